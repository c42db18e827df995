# Turns the web UI's files into a C++ source that defines webUiFiles()
# (master/http/webui.hpp), so that the master carries its UI inside its
# binary. Run by the build (master/CMakeLists.txt) whenever a file changes:
#
#   cmake -DWEBUI_DIR=<source>/webui -DOUTPUT=<build>/webui_files.cpp -P embed_webui.cmake
#
# Each file becomes a byte array (any content is safe that way), with its
# name relative to webui/ and an ETag from its SHA-256.
cmake_minimum_required(VERSION 3.25)

if(NOT WEBUI_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "embed_webui.cmake: give -DWEBUI_DIR=... and -DOUTPUT=...")
endif()

# The same patterns as CN_WEBUI_FILES in master/CMakeLists.txt.
file(GLOB_RECURSE names RELATIVE "${WEBUI_DIR}"
  "${WEBUI_DIR}/*.html" "${WEBUI_DIR}/*.js" "${WEBUI_DIR}/*.css" "${WEBUI_DIR}/*.svg")
list(SORT names)
if(NOT "index.html" IN_LIST names)
  message(FATAL_ERROR "embed_webui.cmake: ${WEBUI_DIR}/index.html is missing")
endif()

# 16 bytes a line.
set(line_pattern "")
foreach(i RANGE 1 16)
  string(APPEND line_pattern "0x[0-9a-f][0-9a-f], ")
endforeach()

set(arrays "")
set(table "")
set(index 0)
foreach(name IN LISTS names)
  if(NOT name MATCHES "^[A-Za-z0-9_./-]+$")
    message(FATAL_ERROR "embed_webui.cmake: webui/${name}: use only letters, digits and _ . / - in file names")
  endif()
  file(READ "${WEBUI_DIR}/${name}" hex HEX)
  file(SHA256 "${WEBUI_DIR}/${name}" digest)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1, " bytes "${hex}")
  string(REGEX REPLACE "(${line_pattern})" "\\1\n    " bytes "${bytes}")
  string(SUBSTRING "${digest}" 0 20 tag)
  # A trailing 0 keeps an empty file's array valid; it is not part of the size.
  string(APPEND arrays "// webui/${name}\nconst unsigned char kFile${index}[] = {\n    ${bytes}0};\n\n")
  string(APPEND table "      {\"${name}\", \"\\\"${tag}\\\"\", {reinterpret_cast<const char*>(kFile${index}), ${size}}},\n")
  math(EXPR index "${index} + 1")
endforeach()

set(source "// Generated from webui/ by master/http/embed_webui.cmake. Do not edit.
#include \"master/http/webui.hpp\"

#include <array>

namespace clusternodes::master {
namespace {

${arrays}}  // namespace

std::span<const WebUiFile> webUiFiles() {
  static const std::array<WebUiFile, ${index}> files{{
${table}  }};
  return files;
}

}  // namespace clusternodes::master
")

# Rewritten only when it changes, so that an unchanged UI compiles nothing.
set(previous "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
endif()
if(NOT previous STREQUAL source)
  file(WRITE "${OUTPUT}" "${source}")
endif()
