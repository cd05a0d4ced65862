/* Whether this build's target regions really run on a device (rather than falling back). */
#include <omp.h>

#include "kernels.h"

int omq_probe_device(int device) {
    int on_device = 0;
#pragma omp target device(device) map(from : on_device)
    on_device = !omp_is_initial_device();
    return on_device;
}
