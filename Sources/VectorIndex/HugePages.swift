#if canImport(Glibc)
    import Glibc
#endif

/// Float storage for large vector matrices, backed by transparent huge pages where the kernel allows it.
///
/// A search streams every vector once per query, so TLB misses on 4 KiB pages are a measurable share of the
/// scan: with `MADV_HUGEPAGE` on the matrix, one query over 10⁶ × 128 floats took 26 ms of CPU instead of
/// 32 ms (bench/README.md, `## search`). numpy advises huge pages for large arrays too, which is part of why
/// FAISS looked faster before. Linux with THP in `madvise` or `always` mode only; elsewhere a plain array.
enum HugePages {
    /// 2 MiB, the x86-64 and arm64 huge page size.
    static let size = 2 << 20

    /// `count` zeros in one array whose 2 MiB-aligned interior is advised as huge pages before first touch.
    static func zeroedFloats(count: Int) -> [Float] {
        floats(count: count) { $0.initialize(repeating: 0) }
    }

    /// `count` floats written by `fill`, which must initialise every one of them (it gets the whole buffer), in
    /// one array whose 2 MiB-aligned interior is advised as huge pages before first touch: no zero-fill pass.
    static func floats(count: Int, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows -> [Float] {
        try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            #if os(Linux)
                if count * 4 >= 4 * size, let base = buffer.baseAddress {
                    let start = (Int(bitPattern: base) + size - 1) / size * size
                    let end = (Int(bitPattern: base) + count * 4) / size * size
                    if end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) {
                        _ = madvise(pointer, end - start, Int32(MADV_HUGEPAGE))  // advisory: failure is harmless
                    }
                }
            #endif
            let whole = UnsafeMutableBufferPointer(start: buffer.baseAddress, count: count)
            do {
                try fill(whole)
            } catch {
                whole.initialize(repeating: 0)  // the array's elements must be initialised even when it is dropped
                initialized = count
                throw error
            }
            initialized = count
        }
    }
}
