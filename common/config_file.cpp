#include "common/config_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <cstdio>
#include <sstream>

namespace clusternodes {
namespace {

std::string dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line);
}

// A scalar as the text a flag takes; nullopt for anything else.
std::optional<std::string> scalarText(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (auto f = node.as_floating_point()) {
    std::ostringstream out;
    out.precision(17);
    out << f->get();
    return out.str();
  }
  return std::nullopt;
}

Result<void> addEntries(const std::string& path, const std::string& section, const toml::table& table,
                        std::vector<ConfigEntry>& out) {
  for (const auto& [key, node] : table) {
    std::string name = std::string(key.str());
    std::string at = where(path, key.source());
    if (node.is_table()) {
      if (!section.empty()) return invalid(at + ": [" + section + "." + name + "]: tables do not nest here");
      if (auto added = addEntries(path, name, *node.as_table(), out); !added) return added;
      continue;
    }
    if (auto array = node.as_array()) {
      for (const auto& element : *array) {
        auto text = scalarText(element);
        if (!text) return invalid(at + ": " + name + ": an array of flags holds strings, numbers or booleans");
        out.push_back({section, dashed(name), *text, static_cast<int>(key.source().begin.line)});
      }
      continue;
    }
    auto text = scalarText(node);
    if (!text) return invalid(at + ": " + name + ": a flag's value is a string, a number or a boolean");
    out.push_back({section, dashed(name), *text, static_cast<int>(key.source().begin.line)});
  }
  return {};
}

bool isTableHeader(const std::string& line) {
  size_t first = line.find_first_not_of(" \t");
  return first != std::string::npos && line[first] == '[';
}

// Whether `line` assigns top-level `key` (spelt with dashes or underscores).
bool assigns(const std::string& line, const std::string& key) {
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos || line[start] == '#') return false;
  size_t eq = line.find('=', start);
  if (eq == std::string::npos) return false;
  std::string name = line.substr(start, eq - start);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  return dashed(name) == dashed(key);
}

}  // namespace

Result<std::vector<ConfigEntry>> readConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::kNotFound, "cannot read the config file " + path};
  std::vector<ConfigEntry> out;
  try {
    toml::table table = toml::parse(in, path);
    if (auto added = addEntries(path, "", table, out); !added) return added.error();
  } catch (const toml::parse_error& e) {
    return invalid(where(path, e.source()) + ": " + std::string(e.description()));
  }
  std::stable_sort(out.begin(), out.end(), [](const ConfigEntry& a, const ConfigEntry& b) { return a.line < b.line; });
  return out;
}

std::string tomlValue(const std::string& value) {
  // Bare only when the text is a number or a boolean that reads back as
  // itself and nothing more: "1#x" parses as 1 (and a comment), "+0" as 0,
  // and "5\nmaster = x" as two keys.
  try {
    auto parsed = toml::parse("v = " + value);
    const auto* node = parsed.get("v");
    if (parsed.size() == 1 && node != nullptr &&
        (node->is_integer() || node->is_floating_point() || node->is_boolean()) && scalarText(*node) == value) {
      return value;
    }
  } catch (const toml::parse_error&) {
    // Not a bare TOML value: quoted below.
  }
  // A basic string, every control character escaped (a raw one is not TOML).
  std::string out = "\"";
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string setConfigValue(const std::string& text, const std::string& key, const std::string& value) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string assignment = key + " = " + tomlValue(value);

  std::vector<std::string> out;
  bool done = false;
  bool inTable = false;
  for (const auto& line : lines) {
    if (isTableHeader(line)) {
      if (!done && !value.empty()) {
        out.push_back(assignment);
        done = true;
      }
      inTable = true;
    }
    if (!inTable && assigns(line, key)) {
      if (!done && !value.empty()) out.push_back(assignment);
      done = true;
      continue;
    }
    out.push_back(line);
  }
  if (!done && !value.empty()) out.push_back(assignment);
  std::string result;
  for (const auto& line : out) result += line + "\n";
  return result;
}

}  // namespace clusternodes
