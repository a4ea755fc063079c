import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore

extension EmbeddingMap.Colouring: ExpressibleByArgument {}

/// `retrieve map --out map.svg`: the index's embeddings on their first two principal components.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Draw the index's embeddings as a 2-D scatter plot (PCA), coloured by label or tag, as SVG.",
        discussion: """
            Points without the chosen field (label, genre, album, artist) are coloured by the name of the folder \
            their file is in; --color-by label falls back to the genre tag first, genre to the label. Hover a \
            point in a browser to see its file name.
            """)

    @OptionGroup var location: IndexLocationOptions

    @Option(help: ArgumentHelp("The SVG file to write.", valueName: "path"))
    var out: String

    @Option(help: "What colours the points: label, genre, album, artist or folder.")
    var colorBy: EmbeddingMap.Colouring = .label

    func run() throws {
        let encoder = try location.loadModel()
        let engine = try location.openEngine(model: encoder.version, loading: .all)
        guard engine.count >= 2 else { throw CLIError("the index holds \(engine.count) track; a map needs two or more") }
        var vectors = Matrix(rows: 0, columns: encoder.configuration.embeddingSize)
        for row in 0..<engine.count { vectors.appendRow(engine.embedding(row: row).values) }
        let plot = EmbeddingMap.plot(tracks: engine.tracks, vectors: vectors, colouring: colorBy,
                                     modelName: encoder.version.name)
        try OutputFile.write(plot.svg(), to: out)
        let legend = plot.legend()
        FileHandle.standardError.write(Data(
            "wrote a map of \(engine.count) tracks in \(legend.count) \(colorBy.rawValue) colours to \(out)\n".utf8))
    }
}
