import Foundation
public import RetrieveCore
public import VectorIndex
public import Plots

/// A 2-D map of an index: its tracks' embeddings projected on their first two principal components.
public enum EmbeddingMap {
    /// What the points are coloured by.
    public enum Colouring: String, CaseIterable, Sendable {
        case label, genre, album, artist
        /// The folder the file is in: a GTZAN-style collection's class even when the files carry genre tags.
        case folder
    }

    /// The colour category of a track: the chosen field, else (for `label` and `genre`) the other of the two,
    /// else the name of the folder the file is in — for a GTZAN-style collection, its class.
    public static func category(of track: TrackRecord, by colouring: Colouring) -> String {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        let value: String? =
            switch colouring {
            case .label: nonEmpty(track.label) ?? nonEmpty(track.genre)
            case .genre: nonEmpty(track.genre) ?? nonEmpty(track.label)
            case .album: nonEmpty(track.album)
            case .artist: nonEmpty(track.artist)
            case .folder: nil
            }
        return value ?? URL(fileURLWithPath: track.path).deletingLastPathComponent().lastPathComponent
    }

    /// The scatter plot of `vectors` (one row per track, in `tracks` order).
    public static func plot(
        tracks: some RandomAccessCollection<TrackRecord>, vectors: Matrix, colouring: Colouring, modelName: String
    )
        -> ScatterPlot
    {
        precondition(tracks.count == vectors.rows && tracks.count >= 2, "need at least two tracks with vectors")
        let pca = PrincipalComponents(fitting: vectors, count: 2)
        let xy = pca.project(vectors)
        func share(_ i: Int) -> String {
            pca.totalVariance > 0 ? String(format: "%.1f", 100 * pca.variances[i] / pca.totalVariance) : "0"
        }
        let points = tracks.enumerated().map { i, t in
            ScatterPlot.Point(
                x: Double(xy[i, 0]), y: Double(xy[i, 1]), category: category(of: t, by: colouring),
                tooltip: URL(fileURLWithPath: t.path).lastPathComponent)
        }
        return ScatterPlot(
            title: "\(tracks.count) tracks embedded by \(modelName), first two principal components",
            xTitle: "PC 1 (\(share(0)) % of variance)", yTitle: "PC 2 (\(share(1)) % of variance)",
            legendTitle: colouring.rawValue, points: points)
    }
}
