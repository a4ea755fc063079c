import ArgumentParser
import Foundation
import Analysis
import Library
import Training
import Evaluation
import SimilaritySearch
import RetrieveCore

/// `retrieve embed FILE…`: embeddings as a NumPy matrix, for people's own pipelines.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write L2-normalised embeddings of audio files as a NumPy .npy matrix (one row per file).",
        discussion: """
            Rows follow the order of the files. With --segments, every segment's embedding is written instead \
            (rows grouped by file, in time order), and the number of segments per file is printed. A file that \
            cannot be decoded stops the command with its reason: rows must line up with the files given.
            """)

    @OptionGroup var modelOption: ModelOption

    @Argument(help: "Audio files.") var files: [String]

    @Option(help: ArgumentHelp("The .npy file to write.", valueName: "file.npy")) var out: String

    @Flag(help: "Write per-segment embeddings instead of one pooled embedding per file.") var segments = false

    func run() throws {
        let analyser = try EncoderAnalyser(encoder: try modelOption.load())
        var matrix = Matrix(rows: 0, columns: analyser.encoder.configuration.embeddingSize)
        for file in files {
            let path = Paths.absolute(file)
            if segments {
                let rows = try analyser.segmentEmbeddings(path: path)
                for e in rows { matrix.appendRow(e.values) }
                print("\(file)\t\(rows.count) segments")
            } else {
                matrix.appendRow(try analyser.analyse(path: path).embedding.values)
            }
        }
        try NumPyArray(matrix).write(to: URL(fileURLWithPath: out))
        print("wrote \(out): \(matrix.rows) × \(matrix.columns) float32")
    }
}
