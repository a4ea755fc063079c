import Foundation
import RetrieveCore

/// A teacher's per-patch embeddings of training tracks (`scripts/teacher-targets`: MusiCNN's 753-d mean-pool
/// layer of every non-overlapping 3-s patch), as distillation targets for `Losses.relational`.
///
/// The folder holds `index.csv` (`path,sha256,patches,patch_seconds,model`; paths relative to the corpus, as in
/// its labels.csv) and one `<sha256>.npy` (`patches × D` float32) per track. A training track is matched to its
/// row by path: the row whose path is the track path's trailing components. Every loaded patch vector is
/// z-scored per dimension over all loaded patches (the teacher's own scale would otherwise let a few loud
/// dimensions decide every cosine) and L2-normalised, so target · target is a cosine. A track without a row,
/// or with a damaged file, has no targets; its crops take part in no relational pair.
struct TeacherTargets {
    /// Unit target rows per training track (nil: none), in the order of the tracks given.
    let perTrack: [Matrix?]
    let patchSeconds: Double
    let dimensions: Int
    /// Per track, the normalised mean of its unit target rows (the teacher's view of the whole track).
    let trackMeans: [[Float]?]
    /// Tracks that found targets.
    var covered: Int { perTrack.filter { $0 != nil }.count }

    /// A mix of two same-label tracks' patches (`scripts/teacher-targets --mixes-per-track`), seen from its first
    /// track: the teacher's embedding of exactly that sum of audio.
    struct Mix {
        /// The patch of this track, the other track (an index into the tracks given) and its patch.
        let patch: Int, other: Int, otherPatch: Int
        /// Amplitude gains in dB of this track's and the other's patch in the sum.
        let gain: Float, otherGain: Float
        /// The unit target row, z-scored as the tracks' patches are.
        let target: [Float]
    }
    /// Per training track, the mixes whose first track it is and whose second is a training track too (empty
    /// when the folder has none or `mixes` was not asked for).
    let mixes: [[Mix]]

    /// The per-dimension z-scoring fitted on the training tracks' patches.
    let standardiser: Standardiser
    /// The folder the targets were read from.
    let directory: String

    /// - Parameter scale: for tracks that are not trained on (validation, held-out labels): take the training
    ///   targets' z-scoring so both sets live in one space; tracks without rows then give no error, only nil.
    init(directory: String, trackPaths: [String], mixes wantMixes: Bool = false, scaledAs scale: TeacherTargets? = nil,
         log: (String) -> Void) throws {
        let folder = URL(fileURLWithPath: directory)
        self.directory = directory
        let indexURL = folder.appendingPathComponent("index.csv")
        guard let text = try? String(contentsOf: indexURL, encoding: .utf8) else {
            throw TrainingError.badRecipe("\(indexURL.path) cannot be read; make the teacher targets with "
                + "scripts/teacher-targets CORPUS --out \(directory)")
        }
        var rows = CSV.rows(text).filter { $0.count >= 4 }
        guard let header = rows.first, header.prefix(4) == ["path", "sha256", "patches", "patch_seconds"] else {
            throw TrainingError.badRecipe("\(indexURL.path) does not start with path,sha256,patches,patch_seconds")
        }
        rows.removeFirst()
        var byPath: [String: (sha: String, seconds: Double)] = [:]
        for row in rows { byPath[row[0]] = (row[1], Double(row[3]) ?? 3) }
        var raw: [Matrix?] = []
        var seconds: Double?
        /// The row key of a track path: its trailing components that name a row of `keys`.
        func key(_ path: String, in keys: Set<String>) -> String? {
            let parts = path.split(separator: "/").map(String.init)
            return (1...min(4, parts.count)).lazy.map { parts.suffix($0).joined(separator: "/") }.first(where: keys.contains)
        }
        let rowKeys = Set(byPath.keys)
        for path in trackPaths {
            guard let match = key(path, in: rowKeys).flatMap({ byPath[$0] }) else { raw.append(nil); continue }
            let file = folder.appendingPathComponent(match.sha + ".npy")
            guard let array = try? NumPyArray(contentsOf: file), array.shape.count == 2, array.shape[0] > 0,
                  let m = array.matrix, m.storage.allSatisfy(\.isFinite)
            else {
                log("note: \(file.path): teacher targets missing or damaged; \(path) "
                    + (scale == nil ? "trains without them" : "is left out of the teacher-fidelity measure"))
                raw.append(nil)
                continue
            }
            if let s = seconds, s != match.seconds {
                throw TrainingError.badRecipe("\(indexURL.path) mixes patch lengths \(s) and \(match.seconds) s")
            }
            seconds = match.seconds
            raw.append(m)
        }
        let dimensions = scale?.dimensions ?? raw.compactMap { $0?.columns }.first ?? 0
        guard dimensions > 0, raw.allSatisfy({ $0 == nil || $0!.columns == dimensions }) else {
            throw TrainingError.badRecipe("\(directory): no usable teacher targets for these tracks, or mixed sizes")
        }
        let all = raw.compactMap { $0 }
        let z = scale?.standardiser
            ?? Standardiser(fitting: Matrix(rows: all.reduce(0) { $0 + $1.rows }, columns: dimensions,
                                            storage: all.flatMap(\.storage)))
        standardiser = z
        perTrack = raw.map { $0.map(z.apply) }  // z-scored and L2-normalised rows
        mixes = wantMixes && scale == nil
            ? try Self.loadMixes(folder: folder, trackPaths: trackPaths, rowKeys: rowKeys, key: key,
                                 standardiser: z, dimensions: dimensions, log: log)
            : trackPaths.map { _ in [] }
        trackMeans = perTrack.map { m in
            m.map { m in
                let mean = (0..<m.columns).map { j in (0..<m.rows).reduce(Float(0)) { $0 + m[$1, j] } / Float(m.rows) }
                return Embedding(normalising: mean).values
            }
        }
        patchSeconds = seconds ?? scale?.patchSeconds ?? 3
        self.dimensions = dimensions
    }

    /// The folder's mixes.csv and mixes.npy as `Mix`es of the given tracks; a mix whose tracks are not both
    /// among them (another fold's, or a validation track) is left out.
    private static func loadMixes(folder: URL, trackPaths: [String], rowKeys: Set<String>,
                                  key: (String, Set<String>) -> String?, standardiser: Standardiser,
                                  dimensions: Int, log: (String) -> Void) throws -> [[Mix]] {
        let csvURL = folder.appendingPathComponent("mixes.csv"), npyURL = folder.appendingPathComponent("mixes.npy")
        let remedy = "make them with scripts/teacher-targets CORPUS --out \(folder.path) --mixes-per-track N"
        guard let text = try? String(contentsOf: csvURL, encoding: .utf8) else {
            throw TrainingError.badRecipe("\(csvURL.path) cannot be read; \(remedy)")
        }
        var rows = CSV.rows(text)
        guard rows.first == ["path_a", "patch_a", "path_b", "patch_b", "gain_a_db", "gain_b_db"] else {
            throw TrainingError.badRecipe("\(csvURL.path) does not start with path_a,patch_a,path_b,patch_b,gain_a_db,"
                + "gain_b_db; \(remedy)")
        }
        rows.removeFirst()
        guard let array = try? NumPyArray(contentsOf: npyURL), array.shape == [rows.count, dimensions],
              let targets = array.matrix, targets.storage.allSatisfy(\.isFinite)
        else {
            throw TrainingError.badRecipe("\(npyURL.path) is missing, damaged or not \(rows.count) × \(dimensions) "
                + "finite values as mixes.csv and the track targets say; \(remedy)")
        }
        let unit = standardiser.apply(targets)
        var index: [String: Int] = [:]
        for (i, path) in trackPaths.enumerated() { if let k = key(path, rowKeys) { index[k] = i } }
        var mixes = trackPaths.map { _ in [Mix]() }
        var skipped = 0
        for (r, row) in rows.enumerated() {
            guard row.count == 6, let a = index[row[0]], let b = index[row[2]], let pa = Int(row[1]), let pb = Int(row[3]),
                  let ga = Float(row[4]), let gb = Float(row[5]), pa >= 0, pb >= 0, ga.isFinite, gb.isFinite
            else { skipped += 1; continue }
            mixes[a].append(Mix(patch: pa, other: b, otherPatch: pb, gain: ga, otherGain: gb, target: unit.row(r)))
        }
        let kept = rows.count - skipped
        log("teacher mixes: \(kept) of \(rows.count) in \(csvURL.path) pair two training tracks")
        if kept == 0 {
            throw TrainingError.badRecipe("\(csvURL.path): none of its mixes pairs two training tracks; \(remedy)")
        }
        return mixes
    }

    /// The target row of a crop of track `track` centred at `seconds`: the patch it falls in (clamped to the
    /// track's patches), or zeros when the track has none.
    func target(track: Int, seconds: Double) -> [Float] {
        guard let m = perTrack[track] else { return [Float](repeating: 0, count: dimensions) }
        let patch = min(m.rows - 1, max(0, Int(seconds / patchSeconds)))
        return m.row(patch)
    }

    /// The target row of a crop of track `track` spanning `from`..<`to` seconds: the teacher's patch rows
    /// weighted by how much of the crop each patch covers, then L2-normalised — the teacher's features are a
    /// mean over time within a patch, so a crop across a patch boundary is nearer this mix than either patch.
    /// Times past the track's patches count towards its last one (a crop of the tail), as `target` clamps.
    /// Zeros when the track has none.
    func target(track: Int, from: Double, to: Double) -> [Float] {
        guard let m = perTrack[track] else { return [Float](repeating: 0, count: dimensions) }
        guard to > from else { return target(track: track, seconds: from) }
        var mix = [Float](repeating: 0, count: dimensions)
        let first = max(0, Int((from / patchSeconds).rounded(.down)))
        let last = max(first, Int((to / patchSeconds).rounded(.up)) - 1)
        for p in first...last {
            let overlap = min(to, Double(p + 1) * patchSeconds) - max(from, Double(p) * patchSeconds)
            guard overlap > 0 else { continue }
            let row = min(p, m.rows - 1)
            for j in 0..<dimensions { mix[j] += Float(overlap) * m[row, j] }
        }
        return Embedding(normalising: mix).values
    }

    /// The centre, in seconds, of a random patch of track `track` that lies wholly within its first `seconds`
    /// (the audio a crop can be cut from), for crops aligned with the teacher's patches; nil when the track has
    /// no targets or no such patch.
    func patchCentre<G: RandomNumberGenerator>(track: Int, within seconds: Double, rng: inout G) -> Double? {
        guard let m = perTrack[track] else { return nil }
        let patches = min(m.rows, Int((seconds / patchSeconds).rounded(.down)))
        guard patches > 0 else { return nil }
        return (Double(Int.random(in: 0..<patches, using: &rng)) + 0.5) * patchSeconds
    }

    /// The whole track's target (`trackMeans`), or zeros when the track has none.
    func trackTarget(track: Int) -> [Float] {
        trackMeans[track] ?? [Float](repeating: 0, count: dimensions)
    }
}
