# AudiobusInstall.cmake - install libaudiobus with its headers, a CMake package
# (find_package(audiobus) -> audiobus::audiobus, audiobus_add_plugin()) and a
# pkg-config file. Included at the end of libaudiobus/CMakeLists.txt.
include(CMakePackageConfigHelpers)

add_library(audiobus::audiobus ALIAS audiobus)

set(AUDIOBUS_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/audiobus)

install(TARGETS audiobus EXPORT audiobusTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(EXPORT audiobusTargets
  NAMESPACE audiobus::
  FILE audiobusTargets.cmake
  DESTINATION ${AUDIOBUS_CMAKE_INSTALL_DIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/audiobusConfig.cmake.in
  ${PROJECT_BINARY_DIR}/audiobusConfig.cmake
  INSTALL_DESTINATION ${AUDIOBUS_CMAKE_INSTALL_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR AUDIOBUS_PLUGIN_INSTALL_DIR AUDIOBUS_DATA_INSTALL_DIR)
# 0.x releases may break the API at every minor version.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/audiobusConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/audiobusConfig.cmake
  ${PROJECT_BINARY_DIR}/audiobusConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/AudiobusPlugin.cmake
  DESTINATION ${AUDIOBUS_CMAKE_INSTALL_DIR})

# A relocatable pkg-config file: prefix found from the .pc file's own place
# (pkg-config's ${pcfiledir}) when libdir is under the prefix, so that
# `cmake --install --prefix` and DESTDIR trees give correct paths; other
# paths relative to ${prefix}.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(AUDIOBUS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(AUDIOBUS_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
endif()
foreach(var LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${var}}")
    set(AUDIOBUS_PC_${var} "${CMAKE_INSTALL_${var}}")
  else()
    set(AUDIOBUS_PC_${var} "\${prefix}/${CMAKE_INSTALL_${var}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${AUDIOBUS_PLUGIN_INSTALL_DIR}")
  set(AUDIOBUS_PC_PLUGINDIR "${AUDIOBUS_PLUGIN_INSTALL_DIR}")
else()
  set(AUDIOBUS_PC_PLUGINDIR "\${prefix}/${AUDIOBUS_PLUGIN_INSTALL_DIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/audiobus.pc.in ${PROJECT_BINARY_DIR}/audiobus.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/audiobus.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
