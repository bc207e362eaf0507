# qw_target_defaults(target): warnings (as errors) and sanitizers for our own targets only.
function(qw_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers
                                           -Wno-mismatched-new-delete)
  # Lets executables drop unused code (-Wl,--gc-sections): less text to page in on a Pi.
  target_compile_options(${target} PRIVATE -ffunction-sections -fdata-sections)
  if(QW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(QW_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
