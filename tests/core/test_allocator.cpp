// Qt Test for util::keepFreedMemoryForReuse: after it, a multi-MiB block comes from the heap
// (reused after free) instead of a fresh mmap that is zero-filled and faulted in each time.
#include "util/allocator.h"

#include <QtTest>

#include <cstdint>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

class TestAllocator : public QObject {
    Q_OBJECT
private slots:
    void largeBlocksStayOnTheHeap() {
#if !defined(__GLIBC__)
        QSKIP("glibc only");
#elif defined(__SANITIZE_ADDRESS__)
        // ASan's allocator replaces glibc's malloc and quarantines freed blocks, so glibc's
        // reuse cannot be observed: the asan preset runs this suite and says so.
        QSKIP("built with AddressSanitizer: malloc is ASan's, not glibc's");
#else
        lumen::util::keepFreedMemoryForReuse();
        const auto mapped = [] { return mallinfo2().hblks; };
        const std::size_t before = mapped();
        void* a = std::malloc(8u << 20);  // 8 MiB: above glibc's default 128 KiB threshold
        QVERIFY(a);
        QCOMPARE(mapped(), before);  // not an mmap of its own
        const auto address = reinterpret_cast<std::uintptr_t>(a);
        std::free(a);
        void* b = std::malloc(8u << 20);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(b), address);  // the freed block is handed out again
        std::free(b);
#endif
    }
};

QTEST_GUILESS_MAIN(TestAllocator)
#include "test_allocator.moc"
