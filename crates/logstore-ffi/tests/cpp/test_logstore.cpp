// Exercises the C++ wrapper on real files: the original interface
// (append, get_position, truncate, replay), errors as exceptions, RAII and
// concurrent appends from several threads.
// Usage: test_logstore_cpp SCRATCH_DIR (an existing, empty directory).
#include <logstore.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

static int checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                             \
        }                                                                             \
    } while (0)

// Runs `f`, expecting a logstore::Error with `code`; returns its message.
template <class F>
static std::string expect_error(logstore_status code, F &&f) {
    try {
        f();
    } catch (const logstore::Error &e) {
        if (e.code() != code) {
            std::fprintf(stderr, "expected %s, got %s\n", logstore_status_name(code), e.what());
        }
        CHECK(e.code() == code);
        return e.what();
    }
    CHECK(!"no exception thrown");
    return {};
}

static std::string scratch;

static void test_original_interface() {
    logstore::Log log(scratch + "/seed", logstore::Options().segment_size(4096));
    CHECK(log.get_position() == 0);
    CHECK(log.append("first") == 0);
    const char raw[] = {'s', 'e', 'c', 'o', 'n', 'd'};
    CHECK(log.append(raw, sizeof raw) == 1);
    std::vector<uint8_t> bytes = {1, 2, 3};
    CHECK(log.append(bytes) == 2);
    CHECK(log.get_position() == 3);

    std::vector<std::pair<uint64_t, std::string>> seen;
    uint64_t n = log.replay(0, [&](uint64_t p, std::string_view r) {
        seen.emplace_back(p, std::string(r));
    });
    CHECK(n == 3 && seen.size() == 3);
    CHECK(seen[0] == std::make_pair(uint64_t{0}, std::string("first")));
    CHECK(seen[1] == std::make_pair(uint64_t{1}, std::string("second")));

    log.truncate(1);
    CHECK(log.first_position() == 1);
    CHECK(log.get_position() == 3);
    seen.clear();
    log.replay(1, [&](uint64_t p, const uint8_t *data, size_t len) {
        seen.emplace_back(p, std::string(reinterpret_cast<const char *>(data), len));
        return false;  // stop after the first
    });
    CHECK(seen.size() == 1 && seen[0].second == "second");
    CHECK(log.read(2).to_vector() == bytes);
}

static void test_errors_are_exceptions() {
    const std::string dir = scratch + "/errors";
    logstore::Log log(dir, logstore::Options().max_record_size(16));
    std::string msg = expect_error(LOGSTORE_ERR_LOCKED, [&] { logstore::Log second(dir); });
    CHECK(msg.find(dir) != std::string::npos);
    CHECK(msg.rfind("LOGSTORE_ERR_LOCKED: ", 0) == 0);
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT, [&] { log.append(std::string(17, 'x')); });
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT, [&] { log.append(""); });
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT, [&] { log.append(nullptr, 3); });
    CHECK(log.append(std::string(16, 'x')) == 0);
    expect_error(LOGSTORE_ERR_OUT_OF_RANGE, [&] { log.read(1); });
    expect_error(LOGSTORE_ERR_OUT_OF_RANGE, [&] { log.replay(5, [](uint64_t, std::string_view) {}); });
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT,
                 [&] { logstore::Log bad(scratch + "/bad", logstore::Options().segment_size(1)); });

    // An exception thrown by the callback stops the replay and comes back.
    log.append("y");
    int calls = 0;
    try {
        log.replay(0, [&](uint64_t, std::string_view) {
            calls++;
            throw std::runtime_error("from the callback");
        });
        CHECK(!"replay returned");
    } catch (const std::runtime_error &e) {
        CHECK(std::string(e.what()) == "from the callback");
    }
    CHECK(calls == 1);

    log.truncate_front(1);
    expect_error(LOGSTORE_ERR_TRUNCATED, [&] { log.read(0); });
    expect_error(LOGSTORE_ERR_OUT_OF_RANGE, [&] { log.truncate_back(0); });
    log.close();
    expect_error(LOGSTORE_ERR_CLOSED, [&] { log.append("z"); });

    // A moved-from Log holds no handle: calls on it are invalid arguments.
    logstore::Log moved = std::move(log);
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT, [&] { log.get_position(); });
    expect_error(LOGSTORE_ERR_CLOSED, [&] { moved.sync(); });
}

static void test_batch_iterator_wait_stats() {
    logstore::Log log(scratch + "/more",
                      logstore::Options().sync_policy(logstore::SyncPolicy::Never));
    CHECK(log.append_batch({"a", "bb", "ccc"}) == 0);
    CHECK(log.get_position() == 3);
    expect_error(LOGSTORE_ERR_INVALID_ARGUMENT, [&] { log.append_batch({"d", ""}); });
    CHECK(log.get_position() == 3);

    logstore::Iterator it = log.iter(1);
    auto r = it.next();
    CHECK(r && r->position() == 1 && r->view() == "bb");
    r = it.next();
    CHECK(r && r->str() == "ccc");
    CHECK(!it.next());
    CHECK(it.position() == 3);

    std::thread writer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        log.append("tail");
    });
    r = it.next(std::chrono::milliseconds(10000));
    writer.join();
    CHECK(r && r->position() == 3 && r->view() == "tail");
    CHECK(log.wait_for(3, std::chrono::milliseconds(0)));
    CHECK(!log.wait_for(4, std::chrono::milliseconds(10)));
    log.wait_for(3);

    log.sync();
    log.flush();
    log.refresh();
    log.wait_reclaimed();
    logstore::Stats s = log.stats();
    CHECK(s.first_position == 0 && s.next_position == 4 && s.records == 4);
    CHECK(s.segments == 1 && s.retained_bytes > 10);
    logstore::VerifyReport v = log.verify();
    CHECK(v.records == 4 && v.problems == 0);
    CHECK(!log.recovery_report().torn_tail);

    // Records own their bytes and can be moved.
    logstore::Record a = log.read(0);
    logstore::Record b = std::move(a);
    CHECK(a.data() == nullptr && b.view() == "a");
#ifdef LOGSTORE_HAS_SPAN
    const uint8_t span_bytes[] = {9, 8, 7};
    CHECK(log.append(std::span<const uint8_t>(span_bytes)) == 4);
    std::vector<uint8_t> got;
    log.replay(4, [&](uint64_t, std::span<const uint8_t> rec) {
        got.assign(rec.begin(), rec.end());
    });
    CHECK(got == std::vector<uint8_t>({9, 8, 7}));
    CHECK(log.read(4).span().size() == 3);
#endif
}

static void test_concurrent_appends() {
    const int threads = 4, per_thread = 50;
    logstore::Log log(scratch + "/concurrent", logstore::Options().segment_size(8192));
    std::vector<std::vector<uint64_t>> positions(threads);
    // A tailing reader, started first, sees every record once, in order.
    std::vector<uint64_t> tailed;
    std::thread reader([&] {
        logstore::Iterator it = log.iter(0);
        while (tailed.size() < threads * per_thread) {
            auto r = it.next(std::chrono::milliseconds(20000));
            if (!r) {
                return;
            }
            tailed.push_back(r->position());
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; i++) {
                std::string rec = "t" + std::to_string(t) + "-" + std::to_string(i);
                positions[t].push_back(log.append(rec));
            }
        });
    }
    for (auto &w : workers) {
        w.join();
    }
    reader.join();
    CHECK(tailed.size() == threads * per_thread);
    for (size_t i = 0; i < tailed.size(); i++) {
        CHECK(tailed[i] == i);
    }
    // Every append got its own position, each thread's in increasing order,
    // together exactly 0 .. threads * per_thread.
    std::set<uint64_t> all;
    for (auto &ps : positions) {
        CHECK(std::is_sorted(ps.begin(), ps.end()));
        all.insert(ps.begin(), ps.end());
    }
    CHECK(all.size() == threads * per_thread);
    CHECK(*all.begin() == 0 && *all.rbegin() == threads * per_thread - 1);
    CHECK(log.get_position() == threads * per_thread);
    for (int t = 0; t < threads; t++) {
        for (int i = 0; i < per_thread; i++) {
            std::string want = "t" + std::to_string(t) + "-" + std::to_string(i);
            CHECK(log.read(positions[t][i]).view() == want);
        }
    }

    // After reopening, the same records at the same positions.
    log.close();
    logstore::Log again(scratch + "/concurrent");
    std::map<uint64_t, std::string> replayed;
    again.replay(0, [&](uint64_t p, std::string_view r) { replayed[p] = std::string(r); });
    CHECK(replayed.size() == threads * per_thread);
    CHECK(replayed[positions[2][7]] == "t2-7");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    scratch = argv[1];
    test_original_interface();
    test_errors_are_exceptions();
    test_batch_iterator_wait_stats();
    test_concurrent_appends();
    std::printf("test_logstore_cpp (C++%ld): %d checks passed\n", __cplusplus / 100 % 100, checks);
    return 0;
}
