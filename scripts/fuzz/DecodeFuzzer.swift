// libFuzzer entry point for the decode → features → encoder path (see build.sh). Each input is written to a
// temporary file with the extension chosen by its first byte, then decoded, turned into log-mel frames and
// embedded; errors are fine, a crash or a non-finite value is a finding.
import AudioDecoding
import Foundation
import RetrieveCore
import SequenceEncoding
import SpectralFeatures

private let extensions = ["wav", "flac", "ogg", "mp3", "aiff", "opus"]
private let folder: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-libfuzzer-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}()
private let extractor = try! FeatureExtractor(configuration: FeatureConfiguration(topDecibels: nil))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecode(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let url = folder.appendingPathComponent("input.\(extensions[Int(bytes[0]) % extensions.count])")
    try? Data(bytes.dropFirst()).write(to: url)
    let decoder = AudioDecoder(targetSampleRate: 22_050)
    guard let audio = try? decoder.decode(url, maxSeconds: 10) else { return 0 }
    precondition(audio.samples.allSatisfy(\.isFinite), "non-finite sample")
    let streaming = StreamingLogMel(extractor: extractor)
    var frames = streaming.push(audio.samples)
    frames.storage.append(contentsOf: streaming.finish().storage)
    precondition(frames.storage.allSatisfy(\.isFinite), "non-finite log-mel value")
    return 0
}
