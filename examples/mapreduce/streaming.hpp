// Streaming: runs a shell command as a filter, feeding it bytes on stdin
// and collecting its stdout, as Hadoop Streaming does with its mapper and
// reducer programs.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

namespace clusternodes::mapreduce {

struct FilterResult {
  int exitCode = 0;       // when it exited
  int signal = 0;         // when a signal ended it
  bool cancelled = false;  // `cancel` was set and the command was killed
  std::string stderrTail;  // the last ~2 KiB of its stderr
  bool ok() const { return !cancelled && signal == 0 && exitCode == 0; }
  // "exited with status 3: <stderr tail>" or "killed by signal 9".
  std::string describe(const std::string& what) const;
};

// Runs `/bin/sh -c command` in its own process group with `input` on its
// stdin, appending its stdout to `output`. A thread writes stdin while this
// one reads stdout and stderr, so a command that writes before it has read
// everything cannot deadlock. A command that stops reading early is fine
// (EPIPE ends the writing). When `cancel` becomes true the process group is
// killed. Throws TaskError when the command cannot be started.
FilterResult runFilter(const std::string& command, std::string_view input, std::string& output,
                       const std::atomic<bool>* cancel = nullptr);

}  // namespace clusternodes::mapreduce
