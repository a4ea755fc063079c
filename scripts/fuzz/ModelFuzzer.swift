// libFuzzer entry point for model loading (see build.sh): any bytes → ModelFileError or a model that runs.
import Foundation
import RetrieveCore
import SequenceEncoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let (encoder, _) = try? SequenceEncoding.Encoder.decode(bytes: bytes, path: "fuzz.safetensors") else { return 0 }
    let c = encoder.configuration
    let frames = Matrix(rows: min(c.segmentFrames, 64), columns: c.inputSize,
                        storage: (0..<(min(c.segmentFrames, 64) * c.inputSize)).map { Float($0 % 97) - 60 })
    let embedding = encoder.embed(segments: [frames])
    precondition(embedding.allSatisfy { e in e.values.allSatisfy { $0.isFinite } }, "non-finite embedding")
    return 0
}
