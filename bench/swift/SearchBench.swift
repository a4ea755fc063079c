import Foundation
import LinearAlgebra
import RetrieveCore
@_spi(Benchmarks) import SimilaritySearch

/// `bench/run search`, our side: reads the vectors `bench/search.py generate` wrote and prints one JSON object
/// of timings (single-query latency, batched throughput, all-against-all, memory bandwidth, heap choice).
///
/// Usage: retrieve-bench search DIR [SIZES…]; DIR holds base-N.npy (N × 128 float32) and queries.npy.
func searchBenchmark(_ arguments: [String]) throws {
    guard let dir = arguments.first else { throw SearchBenchError.usage("retrieve-bench search DIR [N…]") }
    let sizes = arguments.dropFirst().compactMap { Int($0) }
    let queries = try SearchNPY.readFloat32Matrix(path: "\(dir)/queries.npy")
    var report: [String: Any] = ["blas_threads": BLAS.threadCount]
    var perSize: [String: Any] = [:]
    var largest: Matrix?
    for n in sizes {
        let base = try SearchNPY.readFloat32Matrix(path: "\(dir)/base-\(n).npy")
        let collection = VectorCollection(vectors: base)
        let singleCount = n >= 1_000_000 ? 50 : 200
        // Warm up once (page in the vectors, start BLAS threads).
        _ = collection.nearest(to: queries.row(0), k: 10)
        var times = [Double](), cpuTimes = [Double]()
        var firstResults = [[Int]]()
        for q in 0..<singleCount {
            let query = queries.row(q)
            var result = [Neighbour]()
            let (wall, cpu) = measure { result = collection.nearest(to: query, k: 10) }
            times.append(wall)
            cpuTimes.append(cpu)
            if q < 20 { firstResults.append(result.map(\.index)) }
        }
        times.sort()
        cpuTimes.sort()
        var batched = [[Neighbour]]()
        let (batchSeconds, batchCPU) = measure { batched = collection.nearest(toEach: queries, k: 10) }
        perSize[String(n)] =
            [
                "single_queries": singleCount, "single_median_s": times[times.count / 2],
                "single_median_cpu_s": cpuTimes[cpuTimes.count / 2],
                "batch_queries": queries.rows, "batch_s": batchSeconds, "batch_cpu_s": batchCPU,
                "first_results": firstResults, "batch_first_results": batched.prefix(20).map { $0.map(\.index) },
            ] as [String: Any]
        FileHandle.standardError.write(
            "ours n=\(n): single median \(times[times.count / 2] * 1e3) ms, batch \(batchSeconds) s\n".data(
                using: .utf8)!)
        if largest == nil || base.rows > largest!.rows { largest = base }
    }
    report["sizes"] = perSize

    if let big = largest {
        report["bandwidth_bytes_per_s"] = measureReadBandwidth(big.storage)
    }

    if let allN = sizes.first(where: { $0 == 100_000 }) ?? sizes.filter({ $0 < 100_000 }).first {
        let base = try SearchNPY.readFloat32Matrix(path: "\(dir)/base-\(allN).npy")
        let collection = VectorCollection(vectors: base)
        var checksum = 0
        var sample = [[Int]]()
        let (seconds, cpu) = measure {
            collection.allNearest(k: 10) { row, list in
                checksum &+= list.first?.index ?? 0
                if row < 20 { sample.append(list.map(\.index)) }
            }
        }
        report["allpairs"] =
            ["n": allN, "k": 10, "s": seconds, "cpu_s": cpu, "first_results": sample, "checksum": checksum]
            as [String: Any]
        FileHandle.standardError.write("ours all-pairs n=\(allN): \(seconds) s\n".data(using: .utf8)!)
    }

    // Heap choice: the same selection over 1 000 000 random scores, k = 10 and k = 100.
    var rng = SystemRandomNumberGenerator()
    let scores = (0..<1_000_000).map { _ in Float.random(in: -1...1, using: &rng) }
    var heapReport: [String: Any] = [:]
    for k in [10, 100] {
        let a = bestOf(5) { _ = SelectionBenchmark.handWritten(scores, k: k) }
        let b = bestOf(5) { _ = SelectionBenchmark.collectionsHeap(scores, k: k) }
        precondition(SelectionBenchmark.handWritten(scores, k: k) == SelectionBenchmark.collectionsHeap(scores, k: k))
        heapReport[String(k)] = ["handwritten_s": a, "collections_heap_s": b]
    }
    report["heap"] = heapReport

    let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
    FileHandle.standardOutput.write(json)
    FileHandle.standardOutput.write("\n".data(using: .utf8)!)
}

/// Wall and process CPU time of `body`, in seconds. The machine is shared: with one thread, CPU time is the
/// figure least disturbed by other processes (it still includes cache and memory-bus contention).
private func measure(_ body: () -> Void) -> (wall: Double, cpu: Double) {
    func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    let cpu0 = cpuNow(), wall0 = DispatchTime.now().uptimeNanoseconds
    body()
    return (Double(DispatchTime.now().uptimeNanoseconds - wall0) / 1e9, cpuNow() - cpu0)
}

/// Best process CPU time of `repeats` runs, in seconds (CPU time: other processes' load is left out).
private func bestOf(_ repeats: Int, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<repeats { best = min(best, measure(body).cpu) }
    return best
}

/// Read bandwidth with the run's BLAS threads: the best of several passes of `sdot(x, x)` over `values` (far
/// larger than any cache). OpenBLAS's kernel streams every byte with full-width vector loads and one FMA per
/// element, so memory sets the pace: 28 GB/s on one core here. Earlier probes undershot and put our scan
/// "below the physical limit": a SIMD8 sum measured the compiler's SSE code (8.8 GB/s), one scalar load per
/// cache line streamed less well than vector loads, and `sasum` ran at 12.8 GB/s.
private func measureReadBandwidth(_ values: [Float]) -> Double {
    var sink: Float = 0
    let seconds = bestOf(5) {
        values.withUnsafeBufferPointer { p in sink += BLAS.dot(p.baseAddress!, p.baseAddress!, count: p.count) }
    }
    if sink == 42 { print("") }  // keep the result alive
    return Double(values.count * 4) / seconds
}

private enum SearchBenchError: Error, CustomStringConvertible {
    case usage(String)
    case npy(String)
    var description: String {
        switch self {
        case .usage(let text): return "usage: \(text)"
        case .npy(let text): return text
        }
    }
}

/// A tiny private reader for `.npy` files of little-endian float32 in C order, 1-D or 2-D (what
/// bench/search.py writes). RetrieveCore may gain a general one; this one stays local to the benchmark.
private enum SearchNPY {
    static func readFloat32Matrix(path: String) throws -> Matrix {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        guard data.count >= 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw SearchBenchError.npy("\(path) is not an .npy file")
        }
        let major = data[data.startIndex + 6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(data[data.startIndex + 8]) | Int(data[data.startIndex + 9]) << 8
            headerStart = 10
        } else {
            headerLength = (0..<4).reduce(0) { $0 | Int(data[data.startIndex + 8 + $1]) << (8 * $1) }
            headerStart = 12
        }
        let header = String(
            decoding: data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)],
            as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
            let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw SearchBenchError.npy("\(path): need little-endian float32 in C order, header is \(header)") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let rows = shape.first ?? 1, columns = shape.count > 1 ? shape[1] : 1
        let offset = headerStart + headerLength
        guard data.count - offset == rows * columns * 4 else {
            throw SearchBenchError.npy("\(path): payload size does not match shape \(shape)")
        }
        let storage = [Float](unsafeUninitializedCapacity: rows * columns) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            // Advise huge pages as IndexStore.loadVectors does (and numpy does for FAISS's arrays);
            // SEARCH_HUGEPAGES=0 measures plain 4 KiB pages.
            if ProcessInfo.processInfo.environment["SEARCH_HUGEPAGES"] != "0", let base = out.baseAddress {
                let page = 2 << 20
                let start = (Int(bitPattern: base) + page - 1) / page * page
                let end = (Int(bitPattern: base) + out.count) / page * page
                if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, 14) }  // MADV_HUGEPAGE
            }
            data.withUnsafeBytes { raw in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            initialized = rows * columns
        }
        return Matrix(rows: rows, columns: columns, storage: storage)
    }
}
