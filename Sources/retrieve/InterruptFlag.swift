import Foundation
import RetrieveCore

/// Turns Ctrl-C (SIGINT), SIGTERM (`kill`, a service manager stopping us) and SIGHUP (the terminal closing)
/// into a `StopRequest`, so long runs stop cleanly after the batch in flight.
///
/// The first signal asks for a clean stop and says so; a second one ends the process at once (the index is
/// still consistent then, because every batch is one transaction: only the batch in flight is lost).
final class InterruptFlag: @unchecked Sendable {
    /// The request the work polls.
    let stop = StopRequest()
    private var sources: [DispatchSourceSignal] = []
    /// The signals that ask for a clean stop.
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Whether a stop was requested.
    var isRaised: Bool { stop.isRaised }

    /// Starts catching the stop signals; `onFirst` runs once, on the first of them.
    func catchInterrupts(onFirst: @escaping @Sendable () -> Void) {
        // Its own serial queue, not `.global()`: the indexer's workers occupy the global pool's threads (one per
        // core) for the whole run, and a handler queued behind them ran only when the run had finished, so
        // Ctrl-C stopped nothing. A serial queue gets an overcommitted thread of its own.
        let queue = DispatchQueue(label: "retrieve.interrupt")
        for number in Self.signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [stop] in
                guard stop.raise() else {
                    FileHandle.standardError.write(Data("\nretrieve: interrupted again, stopping now\n".utf8))
                    exit(130)
                }
                onFirst()
            }
            source.resume()
            sources.append(source)
        }
    }
}
