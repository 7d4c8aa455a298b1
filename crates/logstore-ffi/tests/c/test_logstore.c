/* Exercises every function of the C API on real files, including bad
 * input. Usage: test_logstore SCRATCH_DIR (an existing, empty directory).
 * Prints "N passed, 0 failed" and exits 0, or names the failed check. */
#include <logstore.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int checks;

#define CHECK(cond)                                                          \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n",    \
                    __FILE__, __LINE__, #cond,                               \
                    logstore_last_error_message());                          \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define CHECK_STATUS(call, expected) CHECK((call) == (expected))
#define OK(call) CHECK_STATUS(call, LOGSTORE_OK)

static char scratch[1024];

static const char *path_in(char *buf, const char *name) {
    snprintf(buf, 4096, "%s/%s", scratch, name);
    return buf;
}

static const uint8_t *bytes(const char *s) { return (const uint8_t *)s; }

static uint64_t next_position(const logstore_log *log) {
    uint64_t p = 0;
    OK(logstore_next_position(log, &p));
    return p;
}

static uint64_t first_position(const logstore_log *log) {
    uint64_t p = 0;
    OK(logstore_first_position(log, &p));
    return p;
}

static int record_is(const logstore_record *rec, uint64_t position, const char *text) {
    return rec->position == position && rec->len == strlen(text) &&
           memcmp(rec->data, text, rec->len) == 0;
}

static logstore_options small_options(void) {
    logstore_options o = logstore_options_default();
    o.segment_size = 4096;
    o.max_record_size = 1024;
    return o;
}

static void test_version_and_status_names(void) {
    CHECK(strlen(logstore_version()) > 0);
    CHECK(strcmp(logstore_status_name(LOGSTORE_OK), "LOGSTORE_OK") == 0);
    CHECK(strcmp(logstore_status_name(LOGSTORE_ERR_LOCKED), "LOGSTORE_ERR_LOCKED") == 0);
    CHECK(strcmp(logstore_status_name(12345), "LOGSTORE_ERR_UNKNOWN") == 0);
}

static void test_open_rejects_bad_arguments(void) {
    char dir[4096];
    logstore_log *log = (logstore_log *)1;
    CHECK_STATUS(logstore_open(NULL, NULL, &log), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(log == NULL);
    CHECK(strstr(logstore_last_error_message(), "dir is NULL") != NULL);
    CHECK_STATUS(logstore_open(path_in(dir, "bad"), NULL, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);

    logstore_options o = logstore_options_default();
    o.sync_policy = 99;
    CHECK_STATUS(logstore_open(dir, &o, &log), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(logstore_last_error_message(), "sync_policy") != NULL);
    o = logstore_options_default();
    o.segment_size = 100;
    CHECK_STATUS(logstore_open(dir, &o, &log), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(logstore_last_error_message(), "segment_size") != NULL);
    o = logstore_options_default();
    o.create = false;
    CHECK_STATUS(logstore_open(path_in(dir, "missing"), &o, &log), LOGSTORE_ERR_IO);
    CHECK(log == NULL);
}

struct seen {
    uint64_t positions[16];
    char text[16][16];
    size_t n;
    size_t stop_after;
    const logstore_log *log;
    uint64_t next_seen_inside;
};

static int collect(void *ctx, uint64_t position, const uint8_t *data, size_t len) {
    struct seen *s = (struct seen *)ctx;
    s->positions[s->n] = position;
    memcpy(s->text[s->n], data, len < 15 ? len : 15);
    s->text[s->n][len < 15 ? len : 15] = 0;
    s->n++;
    /* Calling back into the same handle from the callback is allowed. */
    s->next_seen_inside = next_position(s->log);
    return s->n == s->stop_after;
}

static void test_append_read_replay(logstore_log *log) {
    uint64_t pos = 99;
    OK(logstore_append(log, bytes("hello"), 5, &pos));
    CHECK(pos == 0);
    OK(logstore_append(log, bytes("world"), 5, NULL));
    CHECK(next_position(log) == 2);

    /* Bad input: nothing is written. */
    CHECK_STATUS(logstore_append(NULL, bytes("x"), 1, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_append(log, NULL, 5, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(logstore_last_error_message(), "data is NULL") != NULL);
    CHECK_STATUS(logstore_append(log, bytes(""), 0, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    static uint8_t big[1025];
    memset(big, 'x', sizeof big);
    CHECK_STATUS(logstore_append(log, big, sizeof big, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    OK(logstore_append(log, big, 1024, &pos)); /* exactly the limit */
    CHECK(pos == 2);
    OK(logstore_truncate_back(log, 2));
    CHECK(next_position(log) == 2);

    logstore_slice batch[3] = {{bytes("a"), 1}, {bytes("bb"), 2}, {bytes("ccc"), 3}};
    OK(logstore_append_batch(log, batch, 3, &pos));
    CHECK(pos == 2);
    CHECK(next_position(log) == 5);
    logstore_slice bad[2] = {{bytes("d"), 1}, {NULL, 4}};
    CHECK_STATUS(logstore_append_batch(log, bad, 2, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(strstr(logstore_last_error_message(), "records[1].data") != NULL);
    CHECK_STATUS(logstore_append_batch(log, NULL, 2, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    OK(logstore_append_batch(log, NULL, 0, &pos));
    CHECK(pos == 5);
    CHECK(next_position(log) == 5);
    CHECK(first_position(log) == 0);
    CHECK_STATUS(logstore_next_position(log, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_first_position(NULL, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);

    logstore_record rec;
    OK(logstore_read(log, 3, &rec));
    CHECK(record_is(&rec, 3, "bb"));
    logstore_record_free(&rec);
    CHECK(rec.data == NULL && rec.len == 0);
    logstore_record_free(&rec); /* twice is harmless */
    logstore_record_free(NULL);
    CHECK_STATUS(logstore_read(log, 5, &rec), LOGSTORE_ERR_OUT_OF_RANGE);
    CHECK(rec.data == NULL);
    CHECK(strstr(logstore_last_error_message(), "5") != NULL);
    CHECK_STATUS(logstore_read(log, UINT64_MAX, &rec), LOGSTORE_ERR_OUT_OF_RANGE);
    CHECK_STATUS(logstore_read(log, 0, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);

    struct seen s = {.stop_after = 0, .log = log};
    uint64_t count = 0;
    OK(logstore_replay(log, 0, collect, &s, &count));
    CHECK(count == 5 && s.n == 5);
    CHECK(s.positions[0] == 0 && strcmp(s.text[0], "hello") == 0);
    CHECK(s.positions[4] == 4 && strcmp(s.text[4], "ccc") == 0);
    CHECK(s.next_seen_inside == 5);

    struct seen early = {.stop_after = 2, .log = log};
    OK(logstore_replay(log, 1, collect, &early, &count));
    CHECK(count == 2 && early.n == 2);
    CHECK(early.positions[0] == 1 && early.positions[1] == 2);
    OK(logstore_replay(log, 5, collect, &early, &count)); /* from the end: nothing */
    CHECK(count == 0);
    CHECK_STATUS(logstore_replay(log, 6, collect, &early, &count), LOGSTORE_ERR_OUT_OF_RANGE);
    CHECK_STATUS(logstore_replay(log, 0, NULL, NULL, &count), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_replay(NULL, 0, collect, &early, &count), LOGSTORE_ERR_INVALID_ARGUMENT);
}

static void test_iterator(logstore_log *log) {
    logstore_iter *it = NULL;
    OK(logstore_iter_new(log, 3, &it));
    logstore_record rec;
    bool found = false;
    OK(logstore_iter_next(it, 0, &rec, &found));
    CHECK(found && record_is(&rec, 3, "bb"));
    logstore_record_free(&rec);
    uint64_t pos = 0;
    OK(logstore_iter_position(it, &pos));
    CHECK(pos == 4);
    OK(logstore_iter_next(it, 0, &rec, &found));
    CHECK(found && record_is(&rec, 4, "ccc"));
    logstore_record_free(&rec);

    /* At the end: no record, with or without a short wait. */
    OK(logstore_iter_next(it, 0, &rec, &found));
    CHECK(!found && rec.data == NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(logstore_iter_next(it, 30, &rec, &found));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(!found);
    double waited_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(waited_ms >= 25);

    /* It follows appends made after its creation. */
    OK(logstore_append(log, bytes("later"), 5, &pos));
    CHECK(pos == 5);
    OK(logstore_iter_next(it, -1, &rec, &found));
    CHECK(found && record_is(&rec, 5, "later"));
    logstore_record_free(&rec);

    CHECK_STATUS(logstore_iter_next(NULL, 0, &rec, &found), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_iter_next(it, 0, NULL, &found), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_iter_next(it, 0, &rec, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_iter_position(NULL, &pos), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_iter_position(it, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    logstore_iter_free(it);
    CHECK_STATUS(logstore_iter_new(NULL, 0, &it), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK(it == NULL);
    CHECK_STATUS(logstore_iter_new(log, 0, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    logstore_iter_free(NULL);
}

static void test_truncation(logstore_log *log) {
    /* An iterator left behind by truncate_front gets TRUNCATED. */
    logstore_iter *behind = NULL;
    OK(logstore_iter_new(log, 0, &behind));

    OK(logstore_truncate_front(log, 2));
    CHECK(first_position(log) == 2);
    logstore_record rec;
    CHECK_STATUS(logstore_read(log, 1, &rec), LOGSTORE_ERR_TRUNCATED);
    CHECK(rec.data == NULL);
    struct seen s = {.log = log};
    CHECK_STATUS(logstore_replay(log, 0, collect, &s, NULL), LOGSTORE_ERR_TRUNCATED);
    CHECK(s.n == 0);
    bool found = true;
    CHECK_STATUS(logstore_iter_next(behind, 0, &rec, &found), LOGSTORE_ERR_TRUNCATED);
    CHECK(!found && rec.data == NULL);
    logstore_iter_free(behind);

    OK(logstore_truncate_back(log, 4));
    CHECK(next_position(log) == 4);
    CHECK_STATUS(logstore_read(log, 4, &rec), LOGSTORE_ERR_OUT_OF_RANGE);
    CHECK_STATUS(logstore_truncate_back(log, 1), LOGSTORE_ERR_OUT_OF_RANGE);
    CHECK(next_position(log) == 4);
    CHECK_STATUS(logstore_truncate_front(NULL, 1), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_truncate_back(NULL, 1), LOGSTORE_ERR_INVALID_ARGUMENT);

    /* Beyond the end: empty, and the next append gets that position. */
    OK(logstore_truncate_front(log, 10));
    CHECK(first_position(log) == 10 && next_position(log) == 10);
    uint64_t pos = 0;
    OK(logstore_append(log, bytes("ten"), 3, &pos));
    CHECK(pos == 10);
    OK(logstore_wait_reclaimed(log));
}

static void *append_later(void *arg) {
    usleep(50 * 1000);
    uint64_t pos = 0;
    logstore_status st = logstore_append((const logstore_log *)arg, bytes("late"), 4, &pos);
    return (void *)(uintptr_t)(st == LOGSTORE_OK && pos == 11);
}

static void test_wait_sync_stats(logstore_log *log) {
    bool exists = false;
    OK(logstore_wait_for(log, 10, 0, &exists));
    CHECK(exists);
    OK(logstore_wait_for(log, 11, 20, &exists));
    CHECK(!exists);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, append_later, log) == 0);
    OK(logstore_wait_for(log, 11, -1, &exists));
    CHECK(exists);
    void *ok = NULL;
    pthread_join(t, &ok);
    CHECK(ok != NULL);
    OK(logstore_wait_for(log, 11, INT64_MAX, NULL));
    CHECK_STATUS(logstore_wait_for(NULL, 0, 0, &exists), LOGSTORE_ERR_INVALID_ARGUMENT);

    OK(logstore_sync(log));
    OK(logstore_flush(log));
    OK(logstore_refresh(log));
    CHECK_STATUS(logstore_sync(NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_flush(NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_refresh(NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_wait_reclaimed(NULL), LOGSTORE_ERR_INVALID_ARGUMENT);

    logstore_log_stats st;
    OK(logstore_stats(log, &st));
    CHECK(st.first_position == 10 && st.next_position == 12 && st.records == 2);
    CHECK(st.segments >= 1);
    CHECK(st.retained_bytes > 7 && st.disk_bytes > 0);
    CHECK_STATUS(logstore_stats(log, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(logstore_stats(NULL, &st), LOGSTORE_ERR_INVALID_ARGUMENT);

    logstore_verify_report v;
    OK(logstore_verify(log, &v));
    CHECK(v.records == 2 && v.problems == 0 && v.segments >= 1 && v.bytes > 0);
    CHECK_STATUS(logstore_verify(log, NULL), LOGSTORE_ERR_INVALID_ARGUMENT);
    logstore_recovery_info r;
    OK(logstore_recovery_report(log, &r));
    CHECK(!r.torn_tail && !r.dropped && r.unknown_files == 0);
    CHECK_STATUS(logstore_recovery_report(NULL, &r), LOGSTORE_ERR_INVALID_ARGUMENT);
}

static void test_lock_and_read_only(const char *dir) {
    logstore_log *second = (logstore_log *)1;
    CHECK_STATUS(logstore_open(dir, NULL, &second), LOGSTORE_ERR_LOCKED);
    CHECK(second == NULL);
    CHECK(strstr(logstore_last_error_message(), dir) != NULL);

    logstore_options o = logstore_options_default();
    o.read_only = true;
    o.create = false;
    logstore_log *reader = NULL;
    OK(logstore_open(dir, &o, &reader));
    CHECK(next_position(reader) == 12);
    CHECK_STATUS(logstore_append(reader, bytes("no"), 2, NULL), LOGSTORE_ERR_READ_ONLY);
    CHECK_STATUS(logstore_truncate_front(reader, 11), LOGSTORE_ERR_READ_ONLY);
    logstore_record rec;
    OK(logstore_read(reader, 11, &rec));
    CHECK(record_is(&rec, 11, "late"));
    logstore_record_free(&rec);
    OK(logstore_close(reader));
    logstore_free(reader);
}

static void test_close_and_reopen(logstore_log *log, const char *dir) {
    OK(logstore_close(log));
    CHECK_STATUS(logstore_append(log, bytes("x"), 1, NULL), LOGSTORE_ERR_CLOSED);
    CHECK_STATUS(logstore_sync(log), LOGSTORE_ERR_CLOSED);
    OK(logstore_close(log)); /* twice is fine */
    logstore_free(log);
    logstore_free(NULL);

    logstore_options o = small_options();
    o.create = false;
    OK(logstore_open(dir, &o, &log));
    CHECK(first_position(log) == 10 && next_position(log) == 12);
    logstore_record rec;
    OK(logstore_read(log, 10, &rec));
    CHECK(record_is(&rec, 10, "ten"));
    logstore_record_free(&rec);
    /* Freed without close: the lock is released all the same, and an
     * iterator outlives its handle. */
    logstore_iter *it = NULL;
    OK(logstore_iter_new(log, 11, &it));
    logstore_free(log);
    OK(logstore_open(dir, &o, &log));
    bool found = false;
    OK(logstore_iter_next(it, 0, &rec, &found));
    CHECK(found && record_is(&rec, 11, "late"));
    logstore_record_free(&rec);
    logstore_iter_free(it);
    logstore_free(log);
}

static void test_corruption_is_reported(void) {
    char dir[4096], seg[4096];
    path_in(dir, "corrupt");
    logstore_options o = small_options();
    o.sync_policy = LOGSTORE_SYNC_NEVER;
    logstore_log *log = NULL;
    OK(logstore_open(dir, &o, &log));
    uint8_t rec[100];
    for (int i = 0; i < 100; i++) {
        memset(rec, 'a' + i % 26, sizeof rec);
        OK(logstore_append(log, rec, sizeof rec, NULL));
    }
    OK(logstore_close(log));
    logstore_free(log);

    /* Flip a byte in the middle of the first (sealed) segment. */
    path_in(seg, "corrupt/00000000000000000000.seg");
    FILE *f = fopen(seg, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, 2000, SEEK_SET) == 0);
    int c = fgetc(f);
    CHECK(fseek(f, 2000, SEEK_SET) == 0);
    fputc(c ^ 0xff, f);
    fclose(f);

    logstore_status st = logstore_open(dir, &o, &log);
    if (st == LOGSTORE_OK) {
        /* Sealed segments are checked when read. */
        st = logstore_replay(log, 0, collect, &(struct seen){.log = log, .stop_after = 0}, NULL);
        logstore_free(log);
    }
    CHECK(st == LOGSTORE_ERR_CORRUPTION);
    CHECK(strstr(logstore_last_error_message(), "00000000000000000000.seg") != NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s", argv[1]);
    test_version_and_status_names();
    test_open_rejects_bad_arguments();

    char dir[4096];
    path_in(dir, "log");
    logstore_options o = small_options();
    logstore_log *log = NULL;
    OK(logstore_open(dir, &o, &log));
    CHECK(log != NULL);
    test_append_read_replay(log);
    test_iterator(log);
    test_truncation(log);
    test_wait_sync_stats(log);
    test_lock_and_read_only(dir);
    test_close_and_reopen(log, dir);
    test_corruption_is_reported();
    printf("test_logstore: %d checks passed\n", checks);
    return 0;
}
