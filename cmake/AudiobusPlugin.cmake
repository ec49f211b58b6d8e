# AudiobusPlugin.cmake - audiobus_add_plugin(): build an audiobus processor plugin.
#
#   audiobus_add_plugin(<name> <source>... [LIBRARIES <lib>...])
#
# makes a MODULE library <name>.so (no "lib" prefix: `audiobus process` loads
# plugins by name), compiled as C11 with hidden visibility so the only symbol
# it exports is the `audiobus_plugin` descriptor, and linked to libaudiobus
# plus any LIBRARIES given. It is written to ${CMAKE_BINARY_DIR}/plugins, so a
# build tree keeps all its plugins in one directory (point AUDIOBUS_PLUGIN_PATH
# at it), and installed into AUDIOBUS_PLUGIN_INSTALL_DIR (default
# ${CMAKE_INSTALL_LIBDIR}/audiobus/plugins under the install prefix).
#
# Used inside the audiobus tree and by find_package(audiobus) outside it:
#   cmake_minimum_required(VERSION 3.25)
#   project(myplugin C)
#   find_package(audiobus REQUIRED)
#   audiobus_add_plugin(myplugin myplugin.c)
include_guard(GLOBAL)
include(GNUInstallDirs)

if(NOT DEFINED AUDIOBUS_PLUGIN_INSTALL_DIR)
  set(AUDIOBUS_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/audiobus/plugins)
endif()

function(audiobus_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "LIBRARIES")
  set(sources ${ARG_UNPARSED_ARGUMENTS})
  if(NOT sources)
    message(FATAL_ERROR "audiobus_add_plugin(${name}): no source files (usage: audiobus_add_plugin(<name> <source>... [LIBRARIES <lib>...]))")
  endif()
  if(TARGET audiobus::audiobus)
    set(lib audiobus::audiobus)
  elseif(TARGET audiobus)
    set(lib audiobus)
  else()
    message(FATAL_ERROR "audiobus_add_plugin(${name}): no audiobus library target; call find_package(audiobus) first")
  endif()

  add_library(${name} MODULE ${sources})
  target_link_libraries(${name} PRIVATE ${lib} ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
  if(TARGET audiobus AND NOT IS_ABSOLUTE "${AUDIOBUS_PLUGIN_INSTALL_DIR}" AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    # In the audiobus tree: find libaudiobus relative to the plugin directory.
    file(RELATIVE_PATH to_libdir "/prefix/${AUDIOBUS_PLUGIN_INSTALL_DIR}" "/prefix/${CMAKE_INSTALL_LIBDIR}")
    string(REGEX REPLACE "/$" "" to_libdir "${to_libdir}")
    set_target_properties(${name} PROPERTIES INSTALL_RPATH "$ORIGIN/${to_libdir}")
  else()
    # Outside it: keep the path of the libaudiobus found by find_package.
    set_target_properties(${name} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION ${AUDIOBUS_PLUGIN_INSTALL_DIR})
endfunction()
