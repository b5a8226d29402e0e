# Helpers shared by every folder.

# Warnings for our own code (never for system headers).
function(lumen_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()

# Torch for a core, plugin or test target, behind a precompiled header. Only translation units
# listed in TORCH_SOURCES get the PCH; the rest of the target compiles without it. One PCH is
# built (lumen_torch_pch, ~1 min) and every target reuses it: GCC takes a PCH when the macros
# defined at its making are defined alike where it is used (extra ones that torch's headers do
# not touch, as the tests' Qt and LUMEN_* macros or a library's <target>_EXPORTS, are fine)
# and -O, -g, -std and -fPIC match. -Winvalid-pch says when it is refused (docs/building.md).
add_library(lumen_torch_pch OBJECT "${PROJECT_SOURCE_DIR}/core/torch_pch.cpp")
target_link_libraries(lumen_torch_pch PRIVATE lumen_torch)
set_target_properties(lumen_torch_pch PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_precompile_headers(lumen_torch_pch PRIVATE "${PROJECT_SOURCE_DIR}/core/torch_pch.h")

function(lumen_use_torch target)
  cmake_parse_arguments(ARG "" "" "TORCH_SOURCES" ${ARGN})
  target_link_libraries(${target} PRIVATE lumen_torch)
  target_precompile_headers(${target} REUSE_FROM lumen_torch_pch)
  get_target_property(srcs ${target} SOURCES)
  foreach(src IN LISTS srcs)
    if(src MATCHES "\\.cpp$" AND NOT src IN_LIST ARG_TORCH_SOURCES)
      set_source_files_properties(${src} TARGET_DIRECTORY ${target}
                                  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
