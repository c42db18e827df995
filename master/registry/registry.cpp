#include "master/registry/registry.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace clusternodes::master {
namespace {

class FileStore final : public RegistryStore {
 public:
  explicit FileStore(std::string workDir) : dir_(std::move(workDir)), path_(dir_ + "/registry.json") {}

  Result<std::string> load() override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      if (!std::filesystem::exists(path_)) return std::string();
      return internalError("cannot read " + path_ + ": " + std::strerror(errno));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }

  Result<void> save(const std::string& document) override {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return internalError("cannot create " + dir_ + ": " + ec.message());
    std::string tmp = path_ + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return internalError("cannot write " + tmp + ": " + std::strerror(errno));
    size_t done = 0;
    while (done < document.size()) {
      ssize_t n = ::write(fd, document.data() + done, document.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        return internalError("cannot write " + tmp + ": " + std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) return internalError("cannot sync " + tmp);
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
      return internalError("cannot replace " + path_ + ": " + std::strerror(errno));
    }
    int dirFd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
      ::fsync(dirFd);
      ::close(dirFd);
    }
    return {};
  }

 private:
  std::string dir_;
  std::string path_;
};

const char* markName(AgentMark mark) { return mark == AgentMark::kAdmitted ? "admitted" : "unreachable"; }

}  // namespace

std::unique_ptr<RegistryStore> makeFileStore(const std::string& workDir) {
  return std::make_unique<FileStore>(workDir);
}

Registry::Registry(std::unique_ptr<RegistryStore> store) : store_(std::move(store)) {}

Result<void> Registry::recover() {
  auto document = store_->load();
  if (!document) return document.error();
  agents_.clear();
  // A first start writes an empty registry, so that an unwritable work dir
  // is found now rather than at the first agent.
  if (document->empty()) return persist();
  try {
    auto j = nlohmann::json::parse(*document);
    for (const auto& a : j.at("agents")) {
      AgentRecord r;
      r.id.value = a.at("id").get<std::string>();
      r.hostname = a.value("hostname", "");
      r.mark = a.value("mark", "admitted") == "unreachable" ? AgentMark::kUnreachable : AgentMark::kAdmitted;
      r.markedAt = a.value("marked_at", 0.0);
      agents_[r.id] = r;
    }
  } catch (const std::exception& e) {
    return invalid(std::string("the registry is corrupt: ") + e.what());
  }
  return {};
}

const AgentRecord* Registry::agent(const AgentID& id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : &it->second;
}

Result<void> Registry::admit(const AgentRecord& record) {
  agents_[record.id] = record;
  return persist();
}

Result<void> Registry::mark(const AgentID& id, AgentMark mark, double at) {
  auto it = agents_.find(id);
  if (it == agents_.end()) return notFound("agent " + id.value + " is not in the registry");
  it->second.mark = mark;
  it->second.markedAt = at;
  return persist();
}

Result<void> Registry::remove(const AgentID& id) {
  agents_.erase(id);
  return persist();
}

Result<void> Registry::persist() {
  nlohmann::json j;
  j["version"] = 1;
  j["agents"] = nlohmann::json::array();
  for (const auto& [id, r] : agents_) {
    j["agents"].push_back(
        {{"id", id.value}, {"hostname", r.hostname}, {"mark", markName(r.mark)}, {"marked_at", r.markedAt}});
  }
  return store_->save(j.dump(1));
}

}  // namespace clusternodes::master
