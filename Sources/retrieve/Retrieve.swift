import ArgumentParser

/// The `retrieve` command: argument parsing and output formatting only; the work is in RetrievalPipeline.
@main
struct Retrieve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Music similarity and retrieval: index a collection, then ask for more like this.",
        version: "0.1.0",
        subcommands: [Features.self])
}
