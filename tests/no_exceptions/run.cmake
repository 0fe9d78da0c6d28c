# Runs the consumer built without exceptions and the one built with them; both must pass and write the
# same detections and embeddings, bit for bit. Without exceptions, a misuse reaches the installed hook.
# A third build, where it was made (not when cross-compiling), has the weights compiled in, packed by
# `facekit pack --embed-header`, and read in place: it must give the same files too.
set(modes no_exceptions with_exceptions)
if(EXISTS "${BIN_DIR}/consumer_embedded")
  list(APPEND modes embedded)
endif()
foreach(mode ${modes})
  execute_process(COMMAND "${BIN_DIR}/consumer_${mode}" "${MODELS_DIR}" "${SHARED_DIR}" "${BAD_DIR}" "${BIN_DIR}/consumer_${mode}.txt"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_${mode} failed (${rc})")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${BIN_DIR}/consumer_no_exceptions.txt" "${BIN_DIR}/consumer_${mode}.txt"
                  RESULT_VARIABLE differ)
  if(differ)
    message(FATAL_ERROR "consumer_${mode} and consumer_no_exceptions give different detections or embeddings")
  endif()
endforeach()
message(STATUS "identical detections and embeddings: ${modes}")
execute_process(COMMAND "${BIN_DIR}/consumer_no_exceptions" --hook RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 70 OR NOT err MATCHES "the error hook ran: Detector: no networks")
  message(FATAL_ERROR "without exceptions, a misuse did not reach the hook (exit ${rc}: ${err})")
endif()
message(STATUS "the error hook received: ${err}")
