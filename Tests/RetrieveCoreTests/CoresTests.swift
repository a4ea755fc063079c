import Foundation
import Testing
import RetrieveCore
import Synchronization

@Suite struct CoresTests {
    @Test func availableIsWithinTheMachine() {
        #expect(Cores.available >= 1)
        if ProcessInfo.processInfo.environment["RETRIEVE_THREADS"] == nil {
            #expect(Cores.available <= ProcessInfo.processInfo.activeProcessorCount)
        }
    }

    @Test func parsesTheAffinityMask() {
        #expect(Cores.affinityCount(status: "Name:\tx\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n") == 2)
        #expect(Cores.affinityCount(status: "Cpus_allowed:\tffffffff,ffffffff,00000001\n") == 65)
        #expect(Cores.affinityCount(status: "Cpus_allowed:\t0\n") == nil)
        #expect(Cores.affinityCount(status: "Cpus_allowed:\tzz\n") == nil)
        #expect(Cores.affinityCount(status: "Name:\tx\n") == nil)
    }

    /// A thread pinned to one core (by `taskset`, as `taskset -c N retrieve …` pins a whole process) sees one core,
    /// whatever the machine has.
    @Test func affinityLimitsTheCount() throws {
        let taskset = "/usr/bin/taskset"
        guard FileManager.default.isExecutableFile(atPath: taskset) else {
            print("skipped: \(taskset) (util-linux) is missing")
            return
        }
        let seen = Mutex<(affinity: Int?, available: Int)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            // /proc/thread-self links to /proc/PID/task/TID: pin this thread alone.
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"),
                  let tid = link.split(separator: "/").last else { return }
            let pin = Process()
            pin.executableURL = URL(fileURLWithPath: taskset)
            // The first core this process may use ("0-1", "3,5", …).
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let list = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            let first = list.flatMap { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
                .split(whereSeparator: { $0 == "," || $0 == "-" }).first }.map(String.init) ?? "0"
            pin.arguments = ["-p", "-c", first, String(tid)]
            pin.standardOutput = FileHandle.nullDevice
            guard (try? pin.run()) != nil else { return }
            pin.waitUntilExit()
            guard pin.terminationStatus == 0 else { return }
            seen.withLock { $0 = (Cores.affinityCount, Cores.available) }
        }
        thread.start()
        done.wait()
        let result = try #require(seen.withLock { $0 }, "taskset could not pin a thread to one core")
        #expect(result.affinity == 1)
        if ProcessInfo.processInfo.environment["RETRIEVE_THREADS"] == nil { #expect(result.available == 1) }
    }
}
