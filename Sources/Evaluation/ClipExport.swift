import Foundation
import AudioDecoding
import RetrieveCore
public import Training

/// Cuts a labelled collection into fixed-length clips written as files, with a `clips.csv` that describes them:
/// the evaluation set that our model and the peer tools (`bench/quality`) all describe, so that every system
/// hears exactly the same audio.
///
/// Each track is decoded (mono, `sampleRate`), and `clipsPerTrack` clips of `clipSeconds` are cut at evenly
/// spaced positions: clip i of c starts at `(n − L) · (i + 1) / (c + 1)` samples, n the decoded length, L the clip
/// length, so the clips avoid the very start and end of a track. A track no longer than one clip gives one clip,
/// the whole track. Clips are 16-bit WAV files named `<label>/<track>__clip<i>.wav`; `clips.csv` has the columns
/// `index,path,label,group,split` (path relative to the folder; group `<label>/<track>`, the source track, so clips of
/// one track never count as answers for each other; split copied from the source).
public enum ClipExport {
    /// What an export wrote.
    public struct Summary: Sendable {
        public var tracks: Int
        public var clips: Int
        public var failures: [Evaluator.Failure]
        public var csv: URL
    }

    /// The start sample of each clip of a track of `samples` samples (see the type's documentation).
    public static func clipStarts(samples n: Int, clipSamples length: Int, clips: Int) -> [Int] {
        guard n > length else { return [0] }
        return (0..<clips).map { (n - length) * ($0 + 1) / (clips + 1) }
    }

    /// Writes the clips of `tracks` into `folder` (created if needed) and returns what was written; files that do
    /// not decode are skipped, reported to `progress` and listed in the summary.
    public static func export(
        _ tracks: [LabelledTrack], to folder: URL, clipsPerTrack: Int, clipSeconds: Double, sampleRate: Int = 22_050,
        progress: (any ProgressSink)? = nil
    ) throws -> Summary {
        precondition(clipsPerTrack >= 1 && clipSeconds > 0 && sampleRate > 0)
        let fm = FileManager.default
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        let decoder = AudioDecoder(targetSampleRate: sampleRate)
        let length = Int(clipSeconds * Double(sampleRate))
        var rows = ["index,path,label,group,split"]
        var used = Set<String>()
        var failures: [Evaluator.Failure] = []
        var written = 0, tracksWritten = 0
        for track in tracks {
            defer { progress?.advance(detail: (track.path as NSString).lastPathComponent) }
            guard let samples = Evaluator.decode(track, with: decoder, failures: &failures, progress: progress) else {
                continue
            }
            let label = safeName(track.label)
            var stem = safeName(URL(fileURLWithPath: track.path).deletingPathExtension().lastPathComponent)
            if used.contains(label + "/" + stem) {
                var i = 2
                while used.contains("\(label)/\(stem)-\(i)") { i += 1 }
                stem += "-\(i)"
            }
            used.insert(label + "/" + stem)
            try fm.createDirectory(at: folder.appendingPathComponent(label), withIntermediateDirectories: true)
            for (i, start) in clipStarts(samples: samples.count, clipSamples: length, clips: clipsPerTrack).enumerated() {
                let relative = "\(label)/\(stem)__clip\(i + 1).wav"
                let clip = Array(samples[start..<min(samples.count, start + length)])
                try AudioFileWriter.write(clip, sampleRate: sampleRate, format: .wav16,
                                          to: folder.appendingPathComponent(relative))
                // The group is the track's name in this folder: unique per track, and the same on every machine.
                rows.append([String(written), relative, track.label, "\(label)/\(stem)", track.split?.rawValue ?? ""]
                    .map(CSV.field).joined(separator: ","))
                written += 1
            }
            tracksWritten += 1
        }
        let csv = folder.appendingPathComponent("clips.csv")
        try OutputFile.write(rows.joined(separator: "\n") + "\n", to: csv.path)
        return Summary(tracks: tracksWritten, clips: written, failures: failures, csv: csv)
    }

    /// A file-name-safe form of a label or track name: letters, digits, `.`, `_` and `-` kept, others `_`.
    static func safeName(_ s: String) -> String {
        let kept = s.unicodeScalars.map { c -> Character in
            CharacterSet.alphanumerics.contains(c) || c == "." || c == "_" || c == "-" ? Character(c) : "_"
        }
        var name = String(kept)
        while name.contains("__") { name = name.replacingOccurrences(of: "__", with: "_") }  // `__` marks clips
        return name.isEmpty || name.hasPrefix(".") ? "_" + name : name
    }
}
