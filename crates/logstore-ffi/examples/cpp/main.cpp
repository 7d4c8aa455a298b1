// The original interface in C++: append(blob) -> position, get_position(),
// truncate(position), replay(position, callback).
// Usage: logstore_example DIR
#include <logstore.hpp>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    try {
        logstore::Log log(argv[1]);
        uint64_t first = log.append("hello");
        log.append(std::string("world"));
        std::printf("next position: %llu\n", static_cast<unsigned long long>(log.get_position()));

        log.truncate(first + 1);  // drop "hello"
        uint64_t n = log.replay(log.first_position(), [](uint64_t position, std::string_view record) {
            std::printf("%llu: %.*s\n", static_cast<unsigned long long>(position),
                        static_cast<int>(record.size()), record.data());
        });
        std::printf("replayed %llu record(s)\n", static_cast<unsigned long long>(n));
        log.close();
    } catch (const logstore::Error &e) {
        std::fprintf(stderr, "logstore error %d: %s\n", e.code(), e.what());
        return 1;
    }
    return 0;
}
