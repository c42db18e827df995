// A blocking client of the Docker Engine API over its unix socket (libcurl),
// for the Docker executor and for tests. Never on a daemon's loop thread:
// `wait` and `followLogs` block for as long as the container runs.
//
// Each call makes its own connection, so one Client may be used from several
// threads at once (the Docker executor follows logs on one thread and waits
// on another).
//
// Errors: the daemon cannot be reached -> kUnavailable; no such container or
// image -> kNotFound; a name already taken -> kConflict; any other refusal ->
// kInvalid (4xx) or kInternal (5xx). The message always carries the
// daemon's own words (its JSON "message").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/result.hpp"

namespace clusternodes::docker {

struct PortMapping {
  uint16_t hostPort = 0;
  uint16_t containerPort = 0;
  std::string protocol = "tcp";  // "tcp" or "udp"
};

struct Bind {
  std::string hostPath;
  std::string containerPath;
  bool readOnly = false;
};

// What POST /containers/create gets.
struct ContainerSpec {
  std::string name;   // without the leading '/'
  std::string image;  // "name", "name:tag" or "name@digest"
  // Unset: the image's entrypoint. Set (even empty): replaces it.
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> cmd;  // empty: the image's
  std::vector<std::string> env;  // "NAME=value"
  std::map<std::string, std::string> labels;
  std::string workingDir;  // "": the image's
  std::string user;        // "UID:GID" or a name; "": the image's
  uint64_t cpuShares = 0;  // 0: Docker's default (1024)
  int64_t cpuQuotaUs = 0;  // 0: no quota
  int64_t cpuPeriodUs = 0;  // 0: Docker's default (100000)
  uint64_t memoryBytes = 0;  // 0: no limit; when set, swap is not allowed (MemorySwap = Memory)
  std::vector<Bind> binds;
  std::vector<PortMapping> ports;  // published on all host addresses
};

// The parts of GET /containers/{id}/json that Clusternodes reads.
struct ContainerState {
  std::string id;
  std::string name;    // without the leading '/'
  std::string image;   // as given at create (Config.Image)
  std::string status;  // "created", "running", "paused", "restarting", "removing", "exited", "dead"
  bool running = false;
  bool oomKilled = false;
  int exitCode = 0;
  std::string error;  // State.Error: why Docker could not start it, if so
  int pid = 0;        // 0 when not running
  std::map<std::string, std::string> labels;
  // HostConfig, as Docker applied it.
  uint64_t memoryBytes = 0;
  uint64_t memorySwapBytes = 0;
  uint64_t cpuShares = 0;
  int64_t cpuQuotaUs = 0;
  int64_t cpuPeriodUs = 0;
  // "80/tcp" -> host port, from NetworkSettings.Ports once running.
  std::map<std::string, uint16_t> publishedPorts;
};

// One row of GET /containers/json.
struct ContainerSummary {
  std::string id;
  std::string name;   // the first name, without the leading '/'
  std::string state;  // "running", "exited", ...
  std::map<std::string, std::string> labels;
};

class Client {
 public:
  explicit Client(std::string socketPath = "/var/run/docker.sock");

  const std::string& socketPath() const { return socketPath_; }

  // GET /_ping.
  Result<void> ping() const;
  // The daemon's version and API version ("20.10.24", "1.41").
  Result<std::pair<std::string, std::string>> version() const;

  // Whether the image is present locally (GET /images/{name}/json).
  Result<bool> hasImage(const std::string& image) const;
  // Pulls the image (POST /images/create). Docker reports a failed pull
  // inside a 200 stream; that is an error here too, with Docker's words.
  Result<void> pullImage(const std::string& image) const;

  // Creates the container; returns its id. A missing image is kNotFound.
  Result<std::string> create(const ContainerSpec& spec) const;
  Result<void> start(const std::string& idOrName) const;
  Result<ContainerState> inspect(const std::string& idOrName) const;
  // Blocks until the container is not running; returns its exit code.
  Result<int> wait(const std::string& idOrName) const;
  // Sends a signal ("TERM", "KILL", ...). Not running: kConflict.
  Result<void> kill(const std::string& idOrName, const std::string& signal) const;
  // Stops with Docker's own grace: its stop signal, SIGKILL after
  // `timeoutSeconds`.
  Result<void> stop(const std::string& idOrName, int timeoutSeconds) const;
  // Removes it, killing it first if it runs, with its anonymous volumes.
  Result<void> remove(const std::string& idOrName) const;
  // Containers, stopped ones included, that carry every label of `labels`
  // ("key" -> "value"; an empty value matches any value of the key).
  Result<std::vector<ContainerSummary>> list(const std::map<std::string, std::string>& labels) const;

  using LogSink = std::function<void(std::string_view)>;
  // Streams the container's stdout and stderr (GET /containers/{id}/logs
  // with follow) from its start, or from `sinceUnixSeconds` when non-zero,
  // until the container stops; `out` and `err` get each chunk as it comes,
  // and together every byte the container wrote, once: what the followed
  // stream missed at the container's end comes from one more, plain read.
  // For containers created without a TTY (as Clusternodes makes them).
  Result<void> followLogs(const std::string& idOrName, const LogSink& out, const LogSink& err,
                          int64_t sinceUnixSeconds = 0) const;

 private:
  // One GET of a logs `target`, demultiplexed into `out` and `err`.
  Result<void> readLogs(const std::string& target, const std::string& what, const LogSink& out,
                        const LogSink& err) const;

  std::string socketPath_;
};

namespace detail {

// Splits Docker's multiplexed log stream (a container without a TTY) into
// its stdout and stderr payloads. Each frame is an 8-byte header (the
// stream: 0 stdin, 1 stdout, 2 stderr, 3 the daemon's own error; three zero
// bytes; the payload's size, big-endian) and the payload. The bytes may come
// split anywhere, so an unfinished frame is held until the rest arrives.
class LogStreamParser {
 public:
  using Sink = std::function<void(std::string_view)>;
  LogStreamParser(Sink out, Sink err);

  // Takes the next bytes. Calls `out` (stdin and stdout frames) or `err`
  // once per complete frame, with its whole payload; an empty payload calls
  // nothing. Fails when the bytes are not such a stream (an unknown stream
  // byte, an absurd size: a TTY container's raw output looks like this) or
  // the daemon wrote an error frame; after a failure it takes nothing more.
  Result<void> feed(std::string_view bytes);
  // Whether everything fed so far ends at a frame's end (a stream that ends
  // elsewhere was cut).
  bool atFrameBoundary() const { return held_.empty(); }

 private:
  // The length, header included, of the frame whose header starts `header`
  // (8 bytes at least); a failure for a malformed header.
  Result<size_t> frameLength(std::string_view header) const;
  // Hands on one complete frame.
  Result<void> deliver(std::string_view frame);

  Sink out_;
  Sink err_;
  std::string held_;  // the start of an unfinished frame
  bool failed_ = false;
};

}  // namespace detail

}  // namespace clusternodes::docker
