// swift-tools-version: 6.1
// The retrieve package: data flows one way, file → samples → frames → embedding → index → answers,
// and the targets below follow that flow (see ../shared/STYLE.md). Each arrow points downstream only.
import PackageDescription

/// Release builds dominate the hot paths (STFT, LSTM steps, top-k scan); `-Ounchecked` is not used so that
/// precondition-based shape checks stay on in every build.
let optimised: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "retrieve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "retrieve", targets: ["retrieve"]),
        .executable(name: "retrieve-bench", targets: ["retrieve-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already under postgres-nio; named so that PostgresIndex can make a TLS context for `sslmode`.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Already under hummingbird; named so that the server can answer `Expect: 100-continue` (ContinueHandler).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // System-library shims: a module map and a header, nothing else.
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CFLAC", pkgConfig: "flac", providers: [.apt(["libflac-dev"])]),
        .systemLibrary(name: "CMPG123", pkgConfig: "libmpg123", providers: [.apt(["libmpg123-dev"])]),
        .systemLibrary(name: "CVorbisFile", pkgConfig: "vorbisfile", providers: [.apt(["libvorbis-dev"])]),
        .systemLibrary(name: "COpusFile", pkgConfig: "opusfile", providers: [.apt(["libopusfile-dev"])]),

        // Switches off libmpg123's stderr chatter for the handles libsndfile makes (see quiet_mpeg.c).
        .target(name: "CQuietMPEG", linkerSettings: [.linkedLibrary("dl")]),

        // Value types shared by every stage.
        .target(name: "RetrieveCore", swiftSettings: optimised),
        // file → mono Float samples at the analysis rate, streamed.
        // (libsndfile opens every file and decodes all but native FLAC, which CFLACDecoder decodes, libFLAC as fallback,
        // and MP3, OGG/Vorbis and Opus, which libmpg123, libvorbisfile and libopusfile decode to their end rather
        // than to the length libsndfile takes from their headers.)
        .target(
            name: "AudioDecoding",
            dependencies: ["RetrieveCore", "CSndFile", "CFLAC", "CFLACDecoder", "CMPG123", "CVorbisFile", "COpusFile",
                           "CSoxr", "CQuietMPEG"],
            swiftSettings: optimised),
        // Our FLAC frame decoder (C), which AudioDecoding tries before libFLAC. Always optimised, like the kernels.
        .target(name: "CFLACDecoder", cSettings: [.unsafeFlags(["-O3"])]),
        // samples → STFT → mel → dB → MFCC.
        .target(
            name: "SpectralFeatures", dependencies: ["RetrieveCore", "CFFTW", "CSpectralKernels"],
            swiftSettings: optimised),
        // Per-frame window and real-FFT finish (AVX-512, AVX2 or baseline, chosen at load time, same bits in
        // each: no FMA contraction). Always optimised, like the other kernels.
        .target(name: "CSpectralKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        // Raw CPUID and XGETBV (nothing else): LinearAlgebra decodes them to pick OpenBLAS's core type.
        .target(name: "CCPUID"),
        // Which file each analysis thread works on, written to a journal if the process dies of a fault.
        .target(name: "CCrashNote"),
        // The only place with raw BLAS pointers; also chooses OpenBLAS's core type at process start.
        .target(name: "LinearAlgebra", dependencies: ["RetrieveCore", "CBLAS", "CCPUID"], swiftSettings: optimised),
        // The fused LSTM inference step (AVX-512F or AVX2+FMA chosen at run time); no global -m flags. Always
        // optimised: at -O0 its register-blocked tiles spill, and debug test runs would crawl.
        .target(name: "CLSTMKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The convolutional front end's fused forward pass (AVX-512F, AVX2+FMA or baseline, chosen at run time).
        // Always optimised, like the other kernels.
        .target(name: "CFrontEndKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // LSTM encoder forward pass and model loading (inference only).
        .target(
            name: "SequenceEncoding",
            dependencies: ["RetrieveCore", "LinearAlgebra", "CLSTMKernels", "CFrontEndKernels"],
            swiftSettings: optimised),
        // Backward pass, losses, optimiser, sampling, checkpoints, reports.
        .target(
            name: "EncoderTraining",
            dependencies: ["RetrieveCore", "LinearAlgebra", "SequenceEncoding"],
            swiftSettings: optimised),
        // SQLite schema, migrations, reading and writing tracks and vectors.
        .target(
            name: "VectorIndex",
            dependencies: [
                "RetrieveCore", .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API itself, for incremental BLOB reads of the vector chunks (VectorChunks+Reading).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: optimised),
        // The same index in PostgreSQL: schema, migrations, connection, reading and writing tracks and vectors, and
        // copying an index between SQLite and PostgreSQL. A module of its own so that PostgresNIO (and the NIO,
        // TLS and crypto stack under it) stays out of VectorIndex and of every module that only needs SQLite.
        .target(
            name: "PostgresIndex",
            dependencies: [
                "RetrieveCore", "VectorIndex",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: optimised),
        // The single-query scan kernel (AVX2+FMA chosen at run time, portable C otherwise); no global -m flags.
        .target(name: "CScanKernels"),
        // Contiguous vectors, scoring, bounded top-k. Knows nothing of storage or audio.
        .target(
            name: "SimilaritySearch",
            dependencies: [
                "RetrieveCore", "LinearAlgebra", "CScanKernels", .product(name: "Collections", package: "swift-collections"),
            ],
            swiftSettings: optimised),
        // Audio files → embeddings (pooled, segments, the robust identification front end): the same path for
        // the index, a query and evaluation; and the walk that finds a collection's audio files.
        .target(
            name: "Analysis",
            dependencies: ["RetrieveCore", "AudioDecoding", "SpectralFeatures", "SequenceEncoding", "SimilaritySearch"],
            swiftSettings: optimised),
        // What happens to a recording on its way to a user (noise, gain, clipping, MP3, band limits, tempo, pitch,
        // resampling): the degraded copies evaluation checks and training learns to ignore.
        .target(
            name: "AudioDegradations",
            dependencies: ["RetrieveCore", "AudioDecoding", "LinearAlgebra"],
            swiftSettings: optimised),
        // The library a user keeps: scanner, indexer, query engine, exporter, default locations.
        .target(
            name: "Library",
            dependencies: [
                "RetrieveCore", "AudioDecoding", "SequenceEncoding", "LinearAlgebra", "VectorIndex", "SimilaritySearch",
                "Analysis", "Plots", "PostgresIndex", "CCrashNote",
            ],
            swiftSettings: optimised),
        // Training sessions over a labelled collection: recipes, feature cache, augmentation, teacher targets.
        .target(
            name: "Training",
            dependencies: [
                "RetrieveCore", "AudioDecoding", "SpectralFeatures", "SequenceEncoding", "EncoderTraining",
                "SimilaritySearch", "Analysis", "AudioDegradations", "Plots",
            ],
            swiftSettings: optimised),
        // Measuring embeddings: degradations, baselines, the evaluator, leave-labels-out, peers, the 2-D map.
        .target(
            name: "Evaluation",
            dependencies: [
                "RetrieveCore", "AudioDecoding", "SpectralFeatures", "LinearAlgebra", "SequenceEncoding",
                "SimilaritySearch", "Analysis", "AudioDegradations", "Training", "Plots",
            ],
            swiftSettings: optimised),
        // SVG drawings (scatter plot, line chart) with one writer and one XML escape; knows nothing of audio.
        .target(name: "Plots", dependencies: ["RetrieveCore"]),
        // `retrieve serve`: HTTP routing, handlers, middleware (auth, logging, errors) and live reload of the
        // index over the Library's query engine; no domain logic of its own.
        .target(
            name: "Server",
            dependencies: [
                "RetrieveCore", "Analysis", "Library", "SequenceEncoding", "VectorIndex", "SimilaritySearch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The web page at `/`: static files, no build step (WebAssets finds them beside the binary).
            resources: [.copy("Web")]),
        // `retrieve mpd`: MPD's text protocol (our own small client over POSIX sockets), the mapping between
        // MPD's music directory and the index, and the radio that keeps MPD's queue topped up.
        .target(name: "MPDRadio", dependencies: ["RetrieveCore", "Library"]),
        // Argument parsing and output formatting only.
        .executableTarget(
            name: "retrieve",
            dependencies: [
                "RetrieveCore", "Analysis", "Library", "Training", "Evaluation", "AudioDegradations", "Plots", "EncoderTraining",
                "SequenceEncoding", "VectorIndex", "PostgresIndex", "AudioDecoding", "SpectralFeatures", "LinearAlgebra",
                "Server", "MPDRadio",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimised),
        // Benchmarks: our side of each `bench/run` comparison; the peers' side is bench/*.py.
        .executableTarget(
            name: "retrieve-bench",
            dependencies: [
                "RetrieveCore", "AudioDecoding", "SpectralFeatures", "LinearAlgebra", "SequenceEncoding",
                "EncoderTraining", "SimilaritySearch", "Analysis", "Library", "VectorIndex",
            ],
            path: "bench/swift",
            swiftSettings: optimised),

        // Seeded RNG, signal generators, temporary files and databases, approximate equality.
        .target(name: "TestSupport", dependencies: ["RetrieveCore"]),
        .testTarget(name: "RetrieveCoreTests", dependencies: ["RetrieveCore", "TestSupport"]),
        .testTarget(
            name: "AudioDecodingTests", dependencies: ["AudioDecoding", "TestSupport", "CFLAC", "CFLACDecoder"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SpectralFeaturesTests", dependencies: ["SpectralFeatures", "AudioDecoding", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "TestSupport"]),
        .testTarget(
            name: "SequenceEncodingTests", dependencies: ["SequenceEncoding", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "EncoderTrainingTests", dependencies: ["EncoderTraining", "SequenceEncoding", "TestSupport"]),
        .testTarget(
            name: "VectorIndexTests",
            dependencies: ["VectorIndex", "RetrieveCore", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        // Against a real PostgreSQL 15 started in a temporary folder (TestSupport's PostgresServer); skipped with one
        // message where initdb and pg_ctl are missing.
        .testTarget(
            name: "PostgresIndexTests",
            dependencies: ["PostgresIndex", "VectorIndex", "RetrieveCore", "SequenceEncoding", "TestSupport"]),
        .testTarget(name: "SimilaritySearchTests", dependencies: ["SimilaritySearch", "TestSupport"]),
        // The pipeline tests' fixture: a generated collection, a tiny random model, a temporary index.
        .target(
            name: "PipelineTestSupport",
            dependencies: [
                "TestSupport", "RetrieveCore", "AudioDecoding", "SequenceEncoding", "VectorIndex", "Analysis", "Library",
                "Training",
            ]),
        .testTarget(
            name: "LibraryTests",
            dependencies: [
                "Library", "Analysis", "Training", "Evaluation", "AudioDegradations", "SimilaritySearch", "Plots",
                "AudioDecoding", "SpectralFeatures", "SequenceEncoding", "VectorIndex", "RetrieveCore",
                "TestSupport", "PipelineTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Analysis", "Library", "Evaluation", "AudioDegradations", "SimilaritySearch", "EncoderTraining",
                           "AudioDecoding", "SpectralFeatures", "SequenceEncoding", "RetrieveCore", "TestSupport", "PipelineTestSupport"]),
        .testTarget(
            name: "EvaluationTests",
            dependencies: ["Evaluation", "AudioDegradations", "Training", "EncoderTraining", "Analysis", "Library", "AudioDecoding", "SpectralFeatures",
                           "SequenceEncoding", "SimilaritySearch", "RetrieveCore", "TestSupport", "PipelineTestSupport"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        // `retrieve serve` as a child process on a loopback port: every route, error class, token, reload, SIGTERM,
        // and the Subsonic id mapping against a stand-in Subsonic server.
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Library", "VectorIndex", "RetrieveCore", "SimilaritySearch", "TestSupport",
                "PipelineTestSupport",
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // The MPD protocol parser and the radio's decisions; and a real `mpd` (Debian) driven by `retrieve mpd`.
        .testTarget(
            name: "MPDRadioTests",
            dependencies: [
                "MPDRadio", "Library", "RetrieveCore", "SimilaritySearch", "VectorIndex", "AudioDecoding", "TestSupport",
                "PipelineTestSupport",
            ]),
        // HelpSnapshots/ holds the exact --help texts, read through #filePath (see HelpSnapshotTests).
        .testTarget(
            name: "RetrieveCLITests",
            dependencies: [
                "retrieve", "Analysis", "SequenceEncoding", "Library", "Training", "Evaluation", "AudioDegradations", "SimilaritySearch", "AudioDecoding", "EncoderTraining",
                "RetrieveCore", "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["HelpSnapshots"]),
        // Bad files, kills, concurrent readers, damaged state, fuzzing; runs the built `retrieve` as a child process.
        .testTarget(
            name: "TortureTests",
            dependencies: [
                "Analysis", "Library", "Training", "Evaluation", "AudioDegradations", "SimilaritySearch", "AudioDecoding", "SpectralFeatures",
                "SequenceEncoding", "VectorIndex", "RetrieveCore", "TestSupport", "PipelineTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["README.md"],
            resources: [.copy("Fixtures")]),
    ]
)
