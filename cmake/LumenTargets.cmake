# Helpers shared by every folder.

# Warnings for our own code (never for system headers).
function(lumen_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
endfunction()

# Torch for a core or plugin target, behind a precompiled header. Only translation units
# listed in TORCH_SOURCES get the PCH; the rest of the target compiles without it.
function(lumen_use_torch target)
  cmake_parse_arguments(ARG "" "" "TORCH_SOURCES" ${ARGN})
  target_link_libraries(${target} PRIVATE lumen_torch)
  target_precompile_headers(${target} PRIVATE "${PROJECT_SOURCE_DIR}/core/torch_pch.h")
  get_target_property(srcs ${target} SOURCES)
  foreach(src IN LISTS srcs)
    if(src MATCHES "\\.cpp$" AND NOT src IN_LIST ARG_TORCH_SOURCES)
      set_source_files_properties(${src} TARGET_DIRECTORY ${target}
                                  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
