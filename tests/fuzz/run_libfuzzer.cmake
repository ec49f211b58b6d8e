# run_libfuzzer.cmake - one CTest run of a libFuzzer target: fuzz a fresh copy
# of its seed corpus in the build tree, so what the fuzzer adds never lands in
# the source tree. Crash, leak and timeout inputs are kept in WORK.
#   cmake -DFUZZER=path -DSEEDS=dir -DWORK=dir -DSECONDS=n -P run_libfuzzer.cmake
foreach(var FUZZER SEEDS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_libfuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(COPY ${SEEDS}/ DESTINATION ${WORK}/corpus)

# Kill the fuzzer well before CTest's own timeout would kill only this script.
math(EXPR limit "${SECONDS} + 60")
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -rss_limit_mb=2048 -timeout=5
          -print_final_stats=1 -artifact_prefix=${WORK}/ ${WORK}/corpus
  WORKING_DIRECTORY ${WORK}
  TIMEOUT ${limit}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the input that failed is in ${WORK} "
                      "(crash-*, leak-*, timeout-*): rerun the fuzzer with that file to reproduce it")
endif()
