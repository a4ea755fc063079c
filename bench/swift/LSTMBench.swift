import Foundation
import EncoderTraining
import LinearAlgebra
import RetrieveCore
import SequenceEncoding

/// `retrieve-bench lstm [--threads 1,2] [--seconds S] [--hidden H] [--steps T] [--classes C] [--conv C,F,T,P
/// [--conv2 C,F,T,P]]`:
/// sequences/s of inference and of a training step (forward + backward + AdamW) for the benchmark shape (input 128,
/// hidden 256, 128 steps, batch 32, 1 layer, unidirectional, mean pooling, 128-d embedding, 10 classes, CE only;
/// `bench/run lstm` also runs the shipped model's hidden size, steps and classes, without and with a convolutional
/// front end of C channels, kernel F × T and pooling P, and with its second stage (`--conv2`) where the shipped
/// model has one — their multiply-adds count in GFLOP/s), plus the machine's
/// single-thread sgemm peak, after the OpenBLAS core type in use. Prints one JSON object per line for bench/lstm.sh.
func lstmBenchmark(_ arguments: [String]) throws {
    var threads = [1, 2]
    var seconds = 3.0
    var tasks: Set<String> = ["inference", "training"]
    var (hidden, steps, classes) = (256, 128, 10)
    var frontEnd: ConvolutionalFrontEnd?
    var i = 0
    while i < arguments.count {
        switch arguments[i] {
        case "--threads": threads = arguments[i + 1].split(separator: ",").compactMap { Int($0) }; i += 2
        case "--seconds": seconds = Double(arguments[i + 1]) ?? seconds; i += 2
        case "--only": tasks = [arguments[i + 1]]; i += 2
        case "--hidden": hidden = Int(arguments[i + 1]) ?? hidden; i += 2
        case "--steps": steps = Int(arguments[i + 1]) ?? steps; i += 2
        case "--classes": classes = Int(arguments[i + 1]) ?? classes; i += 2
        case "--conv":
            let v = arguments[i + 1].split(separator: ",").compactMap { Int($0) }
            guard v.count == 4 else {
                throw NSError(domain: "lstm-bench", code: 2, userInfo: [NSLocalizedDescriptionKey: "--conv takes C,F,T,P"])
            }
            frontEnd = ConvolutionalFrontEnd(
                channels: v[0], kernelBands: v[1], kernelFrames: v[2], pool: v[3], second: frontEnd?.second)
            i += 2
        case "--conv2":
            let v = arguments[i + 1].split(separator: ",").compactMap { Int($0) }
            guard v.count == 4, frontEnd != nil else {
                throw NSError(
                    domain: "lstm-bench", code: 2,
                    userInfo: [NSLocalizedDescriptionKey: "--conv2 takes C,F,T,P and follows --conv"])
            }
            frontEnd!.second = ConvolutionalStage(channels: v[0], kernelBands: v[1], kernelFrames: v[2], pool: v[3])
            i += 2
        default: throw NSError(domain: "lstm-bench", code: 2, userInfo: [NSLocalizedDescriptionKey: "unknown argument \(arguments[i])"])
        }
    }
    let (inputSize, batch) = (128, 32)
    func timeIt(_ body: () -> Void) -> Double { averageSeconds(atLeast: seconds, body) }

    // Which OpenBLAS kernels ran, and how they were chosen (see BLASCore): first line of the report.
    emit(["what": "blas_core", "side": "swift", "core": BLAS.coreName, "summary": BLASCore.summary])
    emit(["what": "sgemm_peak_1thread", "gflops": sgemmPeak(seconds: seconds)])

    let encoder = try benchmarkEncoder(
        inputSize: inputSize, hidden: hidden, classes: classes, batch: batch, frontEnd: frontEnd)
    var rng = SplitMix64(seed: 2)
    let segments = (0..<batch).map { _ in
        Matrix(rows: steps, columns: inputSize, storage: (0..<(steps * inputSize)).map { _ in Float.random(in: -1...1, using: &rng) })
    }
    let labels = (0..<batch).map { $0 % 10 }
    var options = TrainingOptions()
    options.tripletWeight = 0
    options.learningRate = 1e-4
    let trainer = EncoderTrainer(encoder: encoder, options: options)
    // LSTM multiply-adds per sequence: T · 4H · (In + H), two flops each, plus the front end's T · M · C · F · T_k;
    // training ≈ 3× (forward + 2× backward).
    let lstmInput = encoder.configuration.lstmInputSize
    let convFlops = frontEnd.map { f in
        2 * Double(steps * inputSize * f.channels * f.kernelSize)
            + (f.second.map { 2 * Double(steps * f.firstBands(mels: inputSize) * $0.channels * f.channels * $0.kernelBands * $0.kernelFrames) } ?? 0)
    } ?? 0
    let flopsPerSequence = 2 * Double(steps * 4 * hidden * (lstmInput + hidden)) + convFlops
    for t in threads {
        BLAS.setThreadCount(t)
        if tasks.contains("inference") {
            let inference = timeIt { _ = encoder.embed(segments: segments) }
            emit(["what": "inference", "side": "swift", "threads": t, "seq_per_s": Double(batch) / inference,
                  "gflops": flopsPerSequence * Double(batch) / inference / 1e9, "kernel": encoder.lstmKernel.rawValue])
        }
        if tasks.contains("training") {
            let training = timeIt { _ = trainer.step(segments: segments, labels: labels) }
            emit(["what": "training", "side": "swift", "threads": t, "seq_per_s": Double(batch) / training,
                  "gflops": 3 * flopsPerSequence * Double(batch) / training / 1e9])
        }
    }
}

/// One JSON object on a line of standard output.
private func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// The mean time of `body` over repeated runs lasting at least `seconds`, after one warm-up run.
private func averageSeconds(atLeast seconds: Double, _ body: () -> Void) -> Double {
    body()  // warm-up
    var runs = 0
    let start = DispatchTime.now().uptimeNanoseconds
    var elapsed = 0.0
    repeat {
        body()
        runs += 1
        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    } while elapsed < seconds
    return elapsed / Double(runs)
}

/// Single-thread sgemm GFLOP/s: one large square product.
private func sgemmPeak(seconds: Double) -> Double {
    BLAS.setThreadCount(1)
    let n = 1024
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    let gemmTime = a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                averageSeconds(atLeast: seconds) {
                    BLAS.gemm(.none, .none, m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                              c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }
    return 2 * Double(n * n * n) / gemmTime / 1e9
}

/// The benchmark's random-weight encoder (1 layer, mean pooling, 128-d embedding), on the inference path
/// `RETRIEVE_LSTM_KERNEL=avx2|blas` names, else the CPU's best.
private func benchmarkEncoder(
    inputSize: Int, hidden: Int, classes: Int, batch: Int, frontEnd: ConvolutionalFrontEnd?
) throws -> Encoder {
    let config = EncoderConfiguration(
        inputSize: inputSize, hiddenSize: hidden, layers: 1, bidirectional: false, pooling: .mean, embeddingSize: 128,
        classNames: (0..<classes).map { "c\($0)" }, features: FeatureConfiguration(melBands: inputSize, topDecibels: nil),
        frontEnd: frontEnd)
    if let problem = config.problem {
        throw NSError(domain: "lstm-bench", code: 2, userInfo: [NSLocalizedDescriptionKey: problem])
    }
    let encoder = Encoder(configuration: config, seed: 1)
    encoder.inferenceBatchSize = batch
    if let name = ProcessInfo.processInfo.environment["RETRIEVE_LSTM_KERNEL"] {
        guard let path = LSTMKernelPath(rawValue: name), path.isSupported else {
            let supported = LSTMKernelPath.allCases.filter(\.isSupported).map(\.rawValue)
            let message = "RETRIEVE_LSTM_KERNEL=\(name): not one of \(supported) on this CPU"
            throw NSError(domain: "lstm-bench", code: 2, userInfo: [NSLocalizedDescriptionKey: message])
        }
        encoder.lstmKernel = path
    }
    return encoder
}
