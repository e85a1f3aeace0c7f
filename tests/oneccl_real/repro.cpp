// Minimal oneCCL GPU-communicator creation (host code only; no kernels), built with g++ by
// build.sh. From ../shared/research/oneccl-real/repro.cpp; one change: the KVS address file goes
// to $REPRO_TMP (default /tmp), so a scenario with a read-only /tmp tests oneCCL, not this program.
// Usage: repro NRANKS   (ranks are forked processes in this container; rank 0 is the parent)
#include <sycl/sycl.hpp>
#include <oneapi/ccl.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <unistd.h>
#include <sys/wait.h>
#include <fstream>
#include <sstream>

static void run_rank(int size, int rank, const char* addr_file) {
    auto devs = sycl::device::get_devices(sycl::info::device_type::gpu);
    fprintf(stderr, "[rank %d] sycl gpu devices: %zu\n", rank, devs.size());
    if (devs.empty()) { fprintf(stderr, "[rank %d] no SYCL GPU device\n", rank); exit(3); }
    sycl::device dev = devs[rank % devs.size()];
    fprintf(stderr, "[rank %d] device: %s backend=%d\n", rank,
            dev.get_info<sycl::info::device::name>().c_str(), (int)dev.get_backend());
    sycl::context ctx(dev);
    ccl::shared_ptr_class<ccl::kvs> kvs;
    if (rank == 0) {
        kvs = ccl::create_main_kvs();
        auto a = kvs->get_address();
        std::ofstream f(std::string(addr_file) + ".tmp", std::ios::binary);
        f.write(a.data(), a.size()); f.close();
        rename((std::string(addr_file) + ".tmp").c_str(), addr_file);
    } else {
        ccl::kvs::address_type a;
        while (access(addr_file, F_OK) != 0) usleep(10000);
        std::ifstream f(addr_file, std::ios::binary); f.read(a.data(), a.size());
        kvs = ccl::create_kvs(a);
    }
    fprintf(stderr, "[rank %d] creating communicator size=%d\n", rank, size);
    try {
        auto cdev = ccl::create_device(dev);
        auto cctx = ccl::create_context(ctx);
        auto comm = ccl::create_communicator(size, rank, cdev, cctx, kvs);
        fprintf(stderr, "[rank %d] REPRO-RESULT: communicator created OK (rank %d/%d)\n", rank,
                comm.rank(), comm.size());
    } catch (const std::exception& e) {
        fprintf(stderr, "[rank %d] REPRO-RESULT: EXCEPTION: %s\n", rank, e.what());
        fflush(stderr);
        _exit(2);
    }
}

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--devices") {  // build.sh's smoke test: discovery only
        auto devs = sycl::device::get_devices(sycl::info::device_type::gpu);
        printf("sycl gpu devices: %zu\n", devs.size());
        return devs.empty() ? 3 : 0;
    }
    int size = argc > 1 ? atoi(argv[1]) : 1;
    const char* tmp = getenv("REPRO_TMP");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/ccl_kvs_addr_XXXXXX";
    std::vector<char> path(tmpl.begin(), tmpl.end());
    path.push_back('\0');
    char* addr_file = path.data();
    int fd = mkstemp(addr_file);
    if (fd < 0) { perror("repro: mkstemp for the KVS address file"); return 4; }
    close(fd); unlink(addr_file);
    ccl::init();
    auto v = ccl::get_library_version();
    fprintf(stderr, "oneCCL version: %s (%s)\n", v.full, v.build_date ? v.build_date : "");
    if (size == 1) { run_rank(1, 0, addr_file); return 0; }
    // every rank is a child, so the parent outlives them all and each one's result is printed
    for (int r = 0; r < size; r++) if (fork() == 0) { run_rank(size, r, addr_file); _exit(0); }
    int rc = 0, st;
    while (wait(&st) > 0) if (!WIFEXITED(st) || WEXITSTATUS(st)) rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    unlink(addr_file);
    return rc;
}
