# OpenMP offload support for omq.
#
#   omq_offload_setup(<arch-list>)   checks the toolchain and defines
#       OMQ_OFFLOAD_COMPILE_OPTIONS / OMQ_OFFLOAD_LINK_OPTIONS
#   omq_offload_fix_images(<target>) post-link step making sm_* images loadable by LLVM 19
#   omq_offload_register_bounds(<target>) links <target>'s sm_* images through omq_ptxas
#
# Architectures are AMD "gfxNNNN" and NVIDIA "sm_NN" names. What this module does, and why:
#  - AMD: clang needs ROCm's device bitcode library (ocml, oclc_* ...). Debian 12's ROCm 5.2
#    stops at gfx1036, so for an arch whose oclc_isa_version_<N>.bc is missing we build a
#    folder of links to the installed bitcode plus that one file, made from the gfx1030 file
#    with its ISA-version constant changed (the only thing that file holds).
#  - NVIDIA: a CUDA toolkit (ptxas, nvlink, libdevice). (Without offload LTO clang-19 would
#    also need --libomptarget-nvptx-bc-path to find its own device runtime bitcode.)
#  - CUDA 13's ptxas/nvlink write cubins with ELF ABI version 8, which LLVM 19's runtime does
#    not recognise ("No images found compatible"). omq_offload_fix_images() rewrites such
#    headers in the linked binary to the ABI-7 form the driver also accepts.
#  - clang 19 gives OpenMP kernels no per-kernel register bound, and ptxas's -maxrregcount
#    applies to every kernel without .maxntid (it slowed the dequantize kernels on an H200)
#    and to none with one. libomq's own link therefore sees a CUDA tree of links to the real
#    one whose bin/ptxas is omq_ptxas (cmake/omq_ptxas.c): it adds .maxnreg to the kernels
#    that ask for it in their source (OMQ_NVPTX_MAXNREG), then runs the real ptxas. Programs
#    that link the static archive themselves get the kernels without those bounds.

include_guard(GLOBAL)

function(_omq_gfx_isa_version arch out)
  # gfx<major><minor><stepping>, minor and stepping one hex digit each: gfx90a -> 9010
  string(REGEX MATCH "^gfx([0-9]+)([0-9a-f])([0-9a-f])$" m "${arch}")
  if(NOT m)
    message(FATAL_ERROR "omq: cannot parse AMD architecture '${arch}'")
  endif()
  set(major ${CMAKE_MATCH_1})
  math(EXPR minor "0x${CMAKE_MATCH_2}")
  math(EXPR stepping "0x${CMAKE_MATCH_3}")
  math(EXPR v "${major} * 1000 + ${minor} * 100 + ${stepping}")
  set(${out} ${v} PARENT_SCOPE)
endfunction()

function(_omq_rocm_device_libs amd_archs out_dir)
  find_path(OMQ_ROCM_DEVICE_LIB_DIR oclc_isa_version_1030.bc
    HINTS ENV ROCM_PATH
    PATHS /opt/rocm/amdgcn/bitcode /opt/rocm/lib/amdgcn/bitcode
          /usr/lib/x86_64-linux-gnu/amdgcn/bitcode /usr/lib/amdgcn/bitcode
    PATH_SUFFIXES amdgcn/bitcode lib/amdgcn/bitcode
    DOC "ROCm device bitcode library folder (ocml.bc, oclc_*.bc)")
  if(NOT OMQ_ROCM_DEVICE_LIB_DIR)
    message(FATAL_ERROR "omq: AMD offload needs ROCm's device libraries (Debian: apt-get install "
                        "rocm-device-libs); set OMQ_ROCM_DEVICE_LIB_DIR to their folder")
  endif()
  set(missing) # the file is named after the arch (gfx1100 -> oclc_isa_version_1100.bc)
  foreach(arch IN LISTS amd_archs)
    string(REGEX REPLACE "^gfx" "" n "${arch}")
    if(NOT EXISTS "${OMQ_ROCM_DEVICE_LIB_DIR}/oclc_isa_version_${n}.bc")
      list(APPEND missing ${arch})
    endif()
  endforeach()
  if(NOT missing)
    set(${out_dir} "${OMQ_ROCM_DEVICE_LIB_DIR}" PARENT_SCOPE)
    return()
  endif()

  get_filename_component(cc_dir "${CMAKE_C_COMPILER}" DIRECTORY)
  string(REGEX MATCH "^[0-9]+" llvm_major "${CMAKE_C_COMPILER_VERSION}")
  find_program(OMQ_LLVM_DIS NAMES llvm-dis-${llvm_major} llvm-dis HINTS "${cc_dir}" /usr/lib/llvm-${llvm_major}/bin)
  find_program(OMQ_LLVM_AS NAMES llvm-as-${llvm_major} llvm-as HINTS "${cc_dir}" /usr/lib/llvm-${llvm_major}/bin)
  if(NOT OMQ_LLVM_DIS OR NOT OMQ_LLVM_AS)
    message(FATAL_ERROR "omq: making the missing ROCm ISA files (${missing}) needs llvm-dis and "
                        "llvm-as of LLVM ${llvm_major} (Debian: apt-get install llvm-${llvm_major})")
  endif()
  set(dir "${CMAKE_BINARY_DIR}/rocm-device-libs")
  file(MAKE_DIRECTORY "${dir}")
  file(GLOB bcs "${OMQ_ROCM_DEVICE_LIB_DIR}/*.bc")
  foreach(bc IN LISTS bcs)
    get_filename_component(name "${bc}" NAME)
    file(CREATE_LINK "${bc}" "${dir}/${name}" SYMBOLIC)
  endforeach()
  execute_process(COMMAND "${OMQ_LLVM_DIS}" "${OMQ_ROCM_DEVICE_LIB_DIR}/oclc_isa_version_1030.bc" -o -
                  OUTPUT_VARIABLE ll RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT ll MATCHES "i32 10300")
    message(FATAL_ERROR "omq: unexpected content in oclc_isa_version_1030.bc")
  endif()
  foreach(arch IN LISTS missing)
    string(REGEX REPLACE "^gfx" "" n "${arch}")
    _omq_gfx_isa_version(${arch} v)
    string(REPLACE "i32 10300" "i32 ${v}" ll_v "${ll}")
    file(WRITE "${dir}/oclc_isa_version_${n}.ll" "${ll_v}")
    execute_process(COMMAND "${OMQ_LLVM_AS}" "${dir}/oclc_isa_version_${n}.ll" -o "${dir}/oclc_isa_version_${n}.bc"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "omq: llvm-as failed for oclc_isa_version_${n}")
    endif()
    message(STATUS "omq: made oclc_isa_version_${n}.bc (ISA ${v}; missing from ${OMQ_ROCM_DEVICE_LIB_DIR})")
  endforeach()
  set(${out_dir} "${dir}" PARENT_SCOPE)
endfunction()

function(_omq_find_cuda out_root)
  find_program(OMQ_PTXAS ptxas
    HINTS ENV CUDA_PATH ENV CUDA_HOME "${CUDAToolkit_ROOT}"
    PATHS /usr/local/cuda /usr/lib/cuda
    PATH_SUFFIXES bin)
  if(NOT OMQ_PTXAS)
    message(FATAL_ERROR "omq: NVIDIA offload (sm_*) needs a CUDA toolkit (ptxas, nvlink, libdevice); "
                        "set CUDAToolkit_ROOT, or leave sm_* out of OMQ_OFFLOAD_ARCH")
  endif()
  get_filename_component(bin "${OMQ_PTXAS}" DIRECTORY)
  get_filename_component(root "${bin}" DIRECTORY)
  set(${out_root} "${root}" PARENT_SCOPE)
endfunction()

# symbolic links in `to` to the entries of `from`, all but the one named `except`
function(_omq_link_entries from to except)
  file(GLOB entries LIST_DIRECTORIES true "${from}/*")
  foreach(e IN LISTS entries)
    get_filename_component(name "${e}" NAME)
    if(NOT name STREQUAL "${except}")
      file(CREATE_LINK "${e}" "${to}/${name}" SYMBOLIC)
    endif()
  endforeach()
endfunction()

# A CUDA tree of links to `cuda_root`, except bin/ptxas, which omq_offload_register_bounds
# builds there.
function(_omq_cuda_tree_with_ptxas_tool cuda_root out_dir)
  set(dir "${CMAKE_BINARY_DIR}/cuda-omq")
  file(REMOVE_RECURSE "${dir}")
  file(MAKE_DIRECTORY "${dir}/bin")
  _omq_link_entries("${cuda_root}" "${dir}" bin)
  _omq_link_entries("${cuda_root}/bin" "${dir}/bin" ptxas)
  set(${out_dir} "${dir}" PARENT_SCOPE)
endfunction()

function(omq_offload_setup archs)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "omq: OMQ_OFFLOAD_ARCH needs clang (e.g. -DCMAKE_C_COMPILER=clang-19)")
  endif()
  set(amd)
  set(nv)
  foreach(a IN LISTS archs)
    if(a MATCHES "^gfx")
      list(APPEND amd ${a})
    elseif(a MATCHES "^sm_[0-9]+a?$")
      list(APPEND nv ${a})
    else()
      message(FATAL_ERROR "omq: unknown offload architecture '${a}' (use gfxNNNN or sm_NN)")
    endif()
  endforeach()
  string(REPLACE ";" "," arch_csv "${archs}")
  # Device code is optimised as one program at link time (-foffload-lto): without it each
  # kernel body stays an outlined function called from a small stub, with spills (seen on
  # sm_90: 300-byte stack frames). The two assumptions hold for omq's kernels (no nested
  # parallel regions, no OpenMP thread-state changes inside target regions) and let the
  # OpenMP optimizer remove the runtime's bookkeeping.
  set(compile -fopenmp --offload-arch=${arch_csv} -foffload-lto
      -fopenmp-assume-no-thread-state -fopenmp-assume-no-nested-parallelism)

  execute_process(COMMAND "${CMAKE_C_COMPILER}" -print-file-name=libomptarget.so
                  OUTPUT_VARIABLE omptarget OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${omptarget}" OR NOT EXISTS "${omptarget}")
    message(FATAL_ERROR "omq: ${CMAKE_C_COMPILER} has no OpenMP offload runtime (Debian: apt-get "
                        "install libomp-${CMAKE_C_COMPILER_VERSION_MAJOR}-dev)")
  endif()
  get_filename_component(llvm_lib "${omptarget}" DIRECTORY)
  set(OMQ_LLVM_LIB_DIR "${llvm_lib}" PARENT_SCOPE)

  if(amd)
    _omq_rocm_device_libs("${amd}" devlibs)
    list(APPEND compile --rocm-device-lib-path=${devlibs})
  endif()
  if(nv)
    _omq_find_cuda(cuda_root)
    # (with -foffload-lto the device runtime comes from libomptarget.devicertl.a at link time,
    # so clang-19 no longer needs --libomptarget-nvptx-bc-path to find its bitcode)
    _omq_cuda_tree_with_ptxas_tool("${cuda_root}" tree)
    set(library_link ${compile} --cuda-path=${tree})
    list(APPEND compile --cuda-path=${cuda_root})
    set(OMQ_CUDA_ROOT "${cuda_root}" PARENT_SCOPE)
    set(OMQ_CUDA_TREE "${tree}" PARENT_SCOPE)
  else()
    set(library_link ${compile})
  endif()
  set(OMQ_OFFLOAD_COMPILE_OPTIONS ${compile} PARENT_SCOPE)
  set(OMQ_OFFLOAD_LINK_OPTIONS ${compile} "LINKER:-rpath,${llvm_lib}" PARENT_SCOPE)
  set(OMQ_OFFLOAD_LIBRARY_LINK_OPTIONS ${library_link} "LINKER:-rpath,${llvm_lib}" PARENT_SCOPE)
  set(OMQ_OFFLOAD_HAS_NVPTX ${nv} PARENT_SCOPE)
  message(STATUS "omq: offload architectures ${arch_csv}; runtime in ${llvm_lib}")
endfunction()

function(omq_offload_register_bounds target)
  if(NOT OMQ_OFFLOAD_HAS_NVPTX)
    return()
  endif()
  if(NOT TARGET omq_ptxas)
    add_executable(omq_ptxas "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/omq_ptxas.c")
    target_compile_definitions(omq_ptxas PRIVATE "OMQ_REAL_PTXAS=\"${OMQ_PTXAS}\"")
    target_compile_options(omq_ptxas PRIVATE -Wall -Wextra)
    set_target_properties(omq_ptxas PROPERTIES OUTPUT_NAME ptxas RUNTIME_OUTPUT_DIRECTORY "${OMQ_CUDA_TREE}/bin")
  endif()
  add_dependencies(${target} omq_ptxas)
endfunction()

function(omq_offload_fix_images target)
  if(NOT OMQ_OFFLOAD_HAS_NVPTX)
    return()
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND omq_cubin_abi "$<TARGET_FILE:${target}>"
    COMMENT "omq: making the sm_* images of ${target} loadable by LLVM's runtime"
    VERBATIM)
endfunction()
