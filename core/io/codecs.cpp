#include "io/codecs.h"

#include "util/sibling_library.h"

namespace lumen::io {

const CodecTable& codecs() {
    // A function-local static: loaded once, thread-safely; a failure is retried next call.
    static const CodecTable* table = [] {
        using Fn = const CodecTable* (*)();
        auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_codecs.so", "lumen_codec_table"));
        return fn();
    }();
    return *table;
}

}  // namespace lumen::io
