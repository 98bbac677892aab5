# shmcheck_set_warnings(<target>): the project's warning set (STYLE.md).
function(shmcheck_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wconversion -Wold-style-cast -Wsuggest-override
    $<$<BOOL:${SHMCHECK_WERROR}>:-Werror>)
endfunction()

# shmcheck_add_library(<name> <alias> [SOURCES <src/file.cpp>...]
#                      [EXCLUDE <src/file.cpp>...]): a folder library from SOURCES, or
# else from src/*.cpp minus EXCLUDE (which other libraries of the folder build), with
# include/ public. Sources are globbed so each folder owns its file list.
function(shmcheck_add_library name alias)
  cmake_parse_arguments(PARSE_ARGV 2 _arg "" "" "SOURCES;EXCLUDE")
  if(_arg_SOURCES)
    set(_srcs ${_arg_SOURCES})
  else()
    file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  endif()
  foreach(_excluded IN LISTS _arg_EXCLUDE)
    list(REMOVE_ITEM _srcs ${CMAKE_CURRENT_SOURCE_DIR}/${_excluded})
  endforeach()
  add_library(${name} ${_srcs})
  add_library(${alias} ALIAS ${name})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>)
  target_compile_features(${name} PUBLIC cxx_std_20)
  shmcheck_set_warnings(${name})
endfunction()
