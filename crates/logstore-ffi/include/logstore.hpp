// logstore: an embedded, durable, append-only log store. C++17 wrapper.
//
// Header-only RAII layer over the C API in logstore.h; link liblogstore.
//
//   logstore::Log log("my-log");                  // opens, creating it
//   uint64_t pos = log.append("hello");           // durable when it returns
//   log.replay(pos, [](uint64_t p, std::string_view record) { ... });
//   log.truncate(pos);                            // drop records before pos
//
// Errors: every failing call throws logstore::Error, which carries the C
// status code (code()) and the message (what()). Destructors never throw.
//
// Ownership: Log, Iterator and Record own their C objects and release them
// when destroyed; they are movable, not copyable. A Log may be used from
// many threads at once (its methods are const where the C API allows);
// an Iterator from one thread at a time.
#ifndef LOGSTORE_HPP
#define LOGSTORE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#define LOGSTORE_HAS_SPAN 1
#endif

#include "logstore.h"

namespace logstore {

// A failed logstore call: the status code and the library's message.
class Error : public std::runtime_error {
  public:
    Error(logstore_status code, const std::string &message)
        : std::runtime_error(std::string(logstore_status_name(code)) + ": " + message),
          code_(code) {}

    // The C status, e.g. LOGSTORE_ERR_LOCKED.
    logstore_status code() const noexcept { return code_; }

  private:
    logstore_status code_;
};

namespace detail {
inline void check(logstore_status status) {
    if (status != LOGSTORE_OK) {
        throw Error(status, logstore_last_error_message());
    }
}
}  // namespace detail

// When appended records become durable.
enum class SyncPolicy : uint32_t {
    Always = LOGSTORE_SYNC_ALWAYS,
    Never = LOGSTORE_SYNC_NEVER,
    Interval = LOGSTORE_SYNC_INTERVAL,
    Bytes = LOGSTORE_SYNC_BYTES,
};

// Options for opening a log, built with chained setters:
//   logstore::Options().sync_policy(logstore::SyncPolicy::Never).segment_size(16 << 20)
class Options {
  public:
    Options() : raw_(logstore_options_default()) {}

    Options &create(bool yes) { raw_.create = yes; return *this; }
    Options &read_only(bool yes) { raw_.read_only = yes; return *this; }
    Options &sync_policy(SyncPolicy policy) {
        raw_.sync_policy = static_cast<uint32_t>(policy);
        return *this;
    }
    Options &sync_interval(std::chrono::milliseconds every) {
        raw_.sync_policy = LOGSTORE_SYNC_INTERVAL;
        raw_.sync_interval_ms = static_cast<uint64_t>(every.count());
        return *this;
    }
    Options &sync_bytes(uint64_t bytes) {
        raw_.sync_policy = LOGSTORE_SYNC_BYTES;
        raw_.sync_bytes = bytes;
        return *this;
    }
    Options &segment_size(uint64_t bytes) { raw_.segment_size = bytes; return *this; }
    Options &max_record_size(uint64_t bytes) { raw_.max_record_size = bytes; return *this; }
    Options &write_buffer(uint64_t bytes) { raw_.write_buffer = bytes; return *this; }
    Options &tolerant_recovery(bool yes) {
        raw_.recovery = yes ? LOGSTORE_RECOVERY_TOLERANT : LOGSTORE_RECOVERY_STRICT;
        return *this;
    }

    const logstore_options &raw() const noexcept { return raw_; }

  private:
    logstore_options raw_;
};

// A record read from the log; owns its bytes.
class Record {
  public:
    Record() noexcept : raw_{0, nullptr, 0} {}
    explicit Record(logstore_record raw) noexcept : raw_(raw) {}
    Record(Record &&other) noexcept : raw_(other.raw_) { other.raw_ = {0, nullptr, 0}; }
    Record &operator=(Record &&other) noexcept {
        if (this != &other) {
            logstore_record_free(&raw_);
            raw_ = other.raw_;
            other.raw_ = {0, nullptr, 0};
        }
        return *this;
    }
    Record(const Record &) = delete;
    Record &operator=(const Record &) = delete;
    ~Record() { logstore_record_free(&raw_); }

    uint64_t position() const noexcept { return raw_.position; }
    const uint8_t *data() const noexcept { return raw_.data; }
    size_t size() const noexcept { return raw_.len; }
    std::string_view view() const noexcept {
        return {reinterpret_cast<const char *>(raw_.data), raw_.len};
    }
    std::string str() const { return std::string(view()); }
    std::vector<uint8_t> to_vector() const { return {raw_.data, raw_.data + raw_.len}; }
#ifdef LOGSTORE_HAS_SPAN
    std::span<const uint8_t> span() const noexcept { return {raw_.data, raw_.len}; }
#endif

  private:
    logstore_record raw_;
};

// Figures about a log.
using Stats = logstore_log_stats;
// What opening a log found and did.
using RecoveryInfo = logstore_recovery_info;
// What Log::verify() read and found.
using VerifyReport = logstore_verify_report;

// Records from a position on, following appends. Use from one thread.
class Iterator {
  public:
    explicit Iterator(logstore_iter *it) noexcept : it_(it) {}
    Iterator(Iterator &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    Iterator &operator=(Iterator &&other) noexcept {
        if (this != &other) {
            logstore_iter_free(it_);
            it_ = std::exchange(other.it_, nullptr);
        }
        return *this;
    }
    Iterator(const Iterator &) = delete;
    Iterator &operator=(const Iterator &) = delete;
    ~Iterator() { logstore_iter_free(it_); }

    // The next record, or nullopt at the end of the log.
    std::optional<Record> next() { return next_waiting(0); }

    // The next record, waiting up to `timeout` for one to be appended.
    std::optional<Record> next(std::chrono::milliseconds timeout) {
        return next_waiting(timeout.count());
    }

    // The position the next record will have.
    uint64_t position() const {
        uint64_t p = 0;
        detail::check(logstore_iter_position(it_, &p));
        return p;
    }

  private:
    std::optional<Record> next_waiting(int64_t timeout_ms) {
        logstore_record raw{0, nullptr, 0};
        bool found = false;
        detail::check(logstore_iter_next(it_, timeout_ms, &raw, &found));
        if (!found) {
            return std::nullopt;
        }
        return Record(raw);
    }

    logstore_iter *it_;
};

// An open log. Destroying it releases the handle and the directory lock;
// records buffered in the process reach the OS but are not synced, and no
// error is reported: call close() first for durability and errors.
class Log {
  public:
    explicit Log(const std::string &dir, const Options &options = Options()) {
        detail::check(logstore_open(dir.c_str(), &options.raw(), &log_));
    }
    Log(Log &&other) noexcept : log_(std::exchange(other.log_, nullptr)) {}
    Log &operator=(Log &&other) noexcept {
        if (this != &other) {
            logstore_free(log_);
            log_ = std::exchange(other.log_, nullptr);
        }
        return *this;
    }
    Log(const Log &) = delete;
    Log &operator=(const Log &) = delete;
    ~Log() { logstore_free(log_); }

    // Appends one record (1 byte to max_record_size) and returns its
    // position; durable on return under SyncPolicy::Always.
    uint64_t append(const void *data, size_t size) const {
        uint64_t position = 0;
        detail::check(
            logstore_append(log_, static_cast<const uint8_t *>(data), size, &position));
        return position;
    }
    uint64_t append(std::string_view record) const { return append(record.data(), record.size()); }
    uint64_t append(const std::vector<uint8_t> &record) const {
        return append(record.data(), record.size());
    }
#ifdef LOGSTORE_HAS_SPAN
    uint64_t append(std::span<const uint8_t> record) const {
        return append(record.data(), record.size());
    }
    uint64_t append(std::span<const std::byte> record) const {
        return append(record.data(), record.size());
    }
#endif

    // Appends records atomically at consecutive positions; returns the
    // first (the batch holds first .. first + records.size()).
    uint64_t append_batch(const std::vector<std::string_view> &records) const {
        std::vector<logstore_slice> slices;
        slices.reserve(records.size());
        for (std::string_view r : records) {
            slices.push_back({reinterpret_cast<const uint8_t *>(r.data()), r.size()});
        }
        uint64_t first = 0;
        detail::check(logstore_append_batch(log_, slices.data(), slices.size(), &first));
        return first;
    }

    // The position the next append will get.
    uint64_t get_position() const { return next_position(); }
    uint64_t next_position() const {
        uint64_t p = 0;
        detail::check(logstore_next_position(log_, &p));
        return p;
    }
    // The oldest position kept.
    uint64_t first_position() const {
        uint64_t p = 0;
        detail::check(logstore_first_position(log_, &p));
        return p;
    }

    // Drops every record before `position` (the original interface's
    // truncate); same as truncate_front.
    void truncate(uint64_t position) const { truncate_front(position); }
    void truncate_front(uint64_t position) const {
        detail::check(logstore_truncate_front(log_, position));
    }
    // Drops the records at `position` and after.
    void truncate_back(uint64_t position) const {
        detail::check(logstore_truncate_back(log_, position));
    }

    // The record at `position`.
    Record read(uint64_t position) const {
        logstore_record raw{0, nullptr, 0};
        detail::check(logstore_read(log_, position, &raw));
        return Record(raw);
    }

    // Calls `f` with each record from `from` on, in order, and returns how
    // many records it was given. `f` takes (uint64_t position, R record)
    // where R is std::string_view, or (uint64_t, const uint8_t *, size_t),
    // or (C++20) std::span<const uint8_t>. If it returns a value, false
    // stops the replay. An exception from `f` stops the replay and is
    // rethrown here.
    template <class F>
    uint64_t replay(uint64_t from, F &&f) const {
        using Fn = std::remove_reference_t<F>;
        struct Context {
            Fn *f;
            std::exception_ptr error;
        } ctx{&f, nullptr};
        auto trampoline = [](void *raw, uint64_t position, const uint8_t *data,
                             size_t len) noexcept -> int {
            auto *c = static_cast<Context *>(raw);
            try {
                return invoke(*c->f, position, data, len) ? 0 : 1;
            } catch (...) {
                c->error = std::current_exception();
                return 1;
            }
        };
        uint64_t count = 0;
        logstore_status status = logstore_replay(log_, from, trampoline, &ctx, &count);
        if (ctx.error) {
            std::rethrow_exception(ctx.error);
        }
        detail::check(status);
        return count;
    }

    // An iterator over records from `from` on, following appends.
    Iterator iter(uint64_t from) const {
        logstore_iter *it = nullptr;
        detail::check(logstore_iter_new(log_, from, &it));
        return Iterator(it);
    }

    // Blocks until a record exists at `position` or `timeout` passes;
    // returns whether it exists.
    bool wait_for(uint64_t position, std::chrono::milliseconds timeout) const {
        bool exists = false;
        detail::check(logstore_wait_for(log_, position, timeout.count(), &exists));
        return exists;
    }
    // Blocks until a record exists at `position`.
    void wait_for(uint64_t position) const {
        detail::check(logstore_wait_for(log_, position, -1, nullptr));
    }

    void sync() const { detail::check(logstore_sync(log_)); }
    void flush() const { detail::check(logstore_flush(log_)); }
    void refresh() const { detail::check(logstore_refresh(log_)); }
    void wait_reclaimed() const { detail::check(logstore_wait_reclaimed(log_)); }
    // Flushes, syncs and closes; later calls throw LOGSTORE_ERR_CLOSED.
    void close() const { detail::check(logstore_close(log_)); }

    Stats stats() const {
        Stats s{};
        detail::check(logstore_stats(log_, &s));
        return s;
    }

    // What opening the log found and did (a torn tail cut off, ...).
    RecoveryInfo recovery_report() const {
        RecoveryInfo r{};
        detail::check(logstore_recovery_report(log_, &r));
        return r;
    }

    // Reads and checks every kept record. Throws LOGSTORE_ERR_CORRUPTION,
    // naming each problem, if any is found.
    VerifyReport verify() const {
        VerifyReport r{};
        detail::check(logstore_verify(log_, &r));
        return r;
    }

    // The C handle, for calls this wrapper does not cover.
    const logstore_log *handle() const noexcept { return log_; }

  private:
    template <class Fn>
    static bool invoke(Fn &f, uint64_t position, const uint8_t *data, size_t len) {
        if constexpr (std::is_invocable_v<Fn &, uint64_t, const uint8_t *, size_t>) {
            return keep_going(f, position, data, len);
#ifdef LOGSTORE_HAS_SPAN
        } else if constexpr (std::is_invocable_v<Fn &, uint64_t, std::span<const uint8_t>>) {
            return keep_going(f, position, std::span<const uint8_t>(data, len));
#endif
        } else {
            static_assert(std::is_invocable_v<Fn &, uint64_t, std::string_view>,
                          "replay callback must take (uint64_t, std::string_view), "
                          "(uint64_t, const uint8_t *, size_t) or (uint64_t, std::span<const "
                          "uint8_t>)");
            return keep_going(f, position,
                              std::string_view(reinterpret_cast<const char *>(data), len));
        }
    }

    template <class Fn, class... Args>
    static bool keep_going(Fn &f, Args &&...args) {
        if constexpr (std::is_void_v<std::invoke_result_t<Fn &, Args...>>) {
            f(std::forward<Args>(args)...);
            return true;
        } else {
            return static_cast<bool>(f(std::forward<Args>(args)...));
        }
    }

    logstore_log *log_ = nullptr;
};

}  // namespace logstore

#endif  // LOGSTORE_HPP
