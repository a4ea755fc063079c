import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import PipelineTestSupport
import Testing
import TestSupport

/// The web page in a real headless Chromium, driven through chromedriver's W3C WebDriver HTTP API from Swift
/// (URLSession and JSON: no Python, no Selenium, nothing to install but Debian's `chromium chromium-driver`).
///
/// Skipped, with the reason shown by `swift test`, where either program is missing (failed instead when
/// `RETRIEVE_REQUIRE_BROWSER=1`, as `.ci/run` sets). The screenshot goes to
/// `RETRIEVE_SCREENSHOT_DIR` or `$TMPDIR/retrieve-web-screenshots` (kept: the fixture's own folder is deleted
/// when the test ends); its path is printed.
@Suite(.serialized) struct BrowserTests {
    static let browser = Browser.locate()
    /// CI sets `RETRIEVE_REQUIRE_BROWSER=1`: there a missing browser fails the test instead of skipping it.
    static let required = ProcessInfo.processInfo.environment["RETRIEVE_REQUIRE_BROWSER"] == "1"

    @Test(
        .enabled(
            if: browser != nil || required,
            "needs Chromium and chromedriver: apt-get install chromium chromium-driver (or set CHROMIUM, CHROMEDRIVER)"
        ),
        // Counts the minutes the test waits for a thread behind other tests too (282 s in a passing CI run).
        .timeLimit(.minutes(10)))
    func pageSearchesPlaysAndBuildsAPath() async throws {
        let browser = try #require(
            Self.browser, "RETRIEVE_REQUIRE_BROWSER=1 but chromium or chromedriver is missing from PATH")
        let fixture = try PipelineFixture(tracks: 6)
        try index(fixture)
        let server = try await ServerProcess.start(fixture)
        defer { server.stop() }
        let driver = try await WebDriver.start(browser, logFolder: fixture.folder.url)
        defer { driver.stop() }
        let session = try await driver.newSession()
        // The session is closed (and its browser with it) before chromedriver stops, whatever happened.
        var failure: (any Error)?
        do { try await Self.exercise(session, server) } catch { failure = error }
        try? await session.delete()
        if let failure { throw failure }
    }

    /// Search, pick, neighbours, play, path, screenshot.
    static func exercise(_ session: BrowserSession, _ server: ServerProcess) async throws {
        let started = ContinuousClock.now
        try await session.navigate(server.base + "/")
        #expect(try await session.script("return document.title") as? String == "retrieve")
        try await session.waitFor(
            "the stats line", "return document.getElementById('stats').textContent.includes('6 tracks')")

        // Search with the keyboard: type, then Enter submits the form.
        let query = try await session.element("#q")
        try await session.type("song", into: query)
        try await session.type("\u{E007}", into: query)
        try await session.waitFor(
            "six search results", "return document.querySelectorAll('#search-results li').length === 6")

        // Pick a track: its neighbours appear, with similarities.
        try await session.click(try await session.element("#search-results li:nth-child(3) button.select"))
        try await session.waitFor("neighbours", "return document.querySelectorAll('#neighbours li').length === 5")
        let similarities =
            try await session.script(
                "return [...document.querySelectorAll('#neighbours .similarity')].map(e => parseFloat(e.textContent))")
            as? [Double] ?? []
        #expect(similarities.count == 5 && similarities.allSatisfy { (0...1).contains($0) })
        #expect(similarities == similarities.sorted(by: >))
        #expect(try await session.script("return document.activeElement.className") as? String == "select")

        // Play the first neighbour: the media element loads through the audio route.
        try await session.click(try await session.element("#neighbours li:first-child .actions button"))
        try await session.waitFor(
            "the audio to load",
            "const a = document.getElementById('player'); return a.error === null && a.readyState >= 2",
            orReport: "const a = document.getElementById('player'); return JSON.stringify({src: a.src, "
                + "ready: a.readyState, network: a.networkState, error: a.error && a.error.message})")
        let playingID = try #require(
            try await session.script("return document.querySelector('#neighbours li:first-child').dataset.id")
                as? String)
        // Chromium asks for media with `Range: bytes=0-`; the server's log shows the 206.
        _ = await Polling.until(seconds: 10) {
            server.child.standardError.contains("path=/api/tracks/\(playingID)/audio status=206")
        }
        #expect(
            server.child.standardError.contains("path=/api/tracks/\(playingID)/audio status=206"),
            "no 206 for the audio in the server log:\n\(server.child.standardError.suffix(3000))")

        // The map shows every track, the chosen one drawn in its own colour (#e8590c).
        try await session.waitFor("the map", "return typeof map !== 'undefined' && map.points.length === 6")
        let seedDrawn = try await session.script(
            """
            const c = document.getElementById('map'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < d.length; i += 4) if (d[i] === 232 && d[i+1] === 89 && d[i+2] === 12) return true;
            return false
            """)
        #expect(seedDrawn as? Bool == true, "the chosen track is not highlighted on the map")
        try await exerciseMapKeyboard(session)
        try await exerciseUpload(session, server)

        // A path: From on one search result, To on another, then Build.
        try await session.click(
            try await session.element("#search-results li:nth-child(1) .actions button:nth-child(2)"))
        try await session.click(
            try await session.element("#search-results li:nth-child(6) .actions button:nth-child(3)"))
        let count = try await session.element("#path-count")
        try await session.script("arguments[0].value = ''", [count.reference])
        try await session.type("4", into: count)
        try await session.click(try await session.element("#build-path"))
        // At most 4 tracks (the diversity rules may leave fewer in six tracks of two alternating artists).
        try await session.waitFor(
            "the path",
            "const n = document.querySelectorAll('#path li').length; return n >= 2 && n <= 4 && "
                + "document.getElementById('path-status').textContent.includes('tracks from')",
            orReport: "return document.getElementById('path-status').textContent")
        let ends =
            try await session.script(
                "const t = [...document.querySelectorAll('#path li')].map(li => li.dataset.id); "
                    + "return [t[0], t[t.length-1]]"
            )
            as? [String]
        let first = try await session.script(
            "return document.querySelector('#search-results li:nth-child(1)').dataset.id")
        let last = try await session.script(
            "return document.querySelector('#search-results li:nth-child(6)').dataset.id")
        #expect(ends == [first as? String ?? "", last as? String ?? ""])
        #expect(try await session.script("return document.getElementById('export-path').disabled") as? Bool == false)

        // A screenshot of the page as it now stands.
        let folder = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["RETRIEVE_SCREENSHOT_DIR"]
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("retrieve-web-screenshots").path)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let png = folder.appendingPathComponent("page-\(UUID().uuidString.prefix(8)).png")
        try await session.screenshot().write(to: png)
        print(
            "BrowserTests: screenshot of the page at \(png.path) (browser part took \(ContinuousClock.now - started))")
        #expect(try Data(contentsOf: png).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
}

/// Where Chromium and chromedriver are: `CHROMIUM`/`CHROMEDRIVER`, else the first found on `PATH`.
struct Browser: Sendable {
    let chromium: String
    let chromedriver: String

    static func locate() -> Browser? {
        let environment = ProcessInfo.processInfo.environment
        let path = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map(String.init) + ["/usr/bin"]
        func find(_ variable: String, _ names: [String]) -> String? {
            if let given = environment[variable], !given.isEmpty {
                return FileManager.default.isExecutableFile(atPath: given) ? given : nil
            }
            for name in names {
                for dir in path where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
                    return dir + "/" + name
                }
            }
            return nil
        }
        guard let chromium = find("CHROMIUM", ["chromium", "chromium-browser", "google-chrome"]),
            let driver = find("CHROMEDRIVER", ["chromedriver"])
        else { return nil }
        return Browser(chromium: chromium, chromedriver: driver)
    }
}

/// A WebDriver failure: the command, the status and what chromedriver said.
struct WebDriverError: Error, CustomStringConvertible {
    let description: String
}

/// A chromedriver child process on a free loopback port.
final class WebDriver: @unchecked Sendable {
    let browser: Browser
    let child: Child
    let port: UInt16
    var base: String { "http://127.0.0.1:\(port)" }

    private init(browser: Browser, child: Child, port: UInt16) {
        self.browser = browser
        self.child = child
        self.port = port
    }

    static func start(_ browser: Browser, logFolder: URL) async throws -> WebDriver {
        let port = UInt16(try LoopbackPort.free())
        let child = try Child(
            URL(fileURLWithPath: browser.chromedriver), ["--port=\(port)", "--allowed-ips=127.0.0.1"],
            output: logFolder.appendingPathComponent("chromedriver"))
        let driver = WebDriver(browser: browser, child: child, port: port)
        // Through `Polling`, which looks once more after its deadline: CI once saw chromedriver report itself
        // started just after this loop's own 30-s deadline had passed during one long-delayed sleep.
        var last = ""
        let ready = await Polling.until(seconds: 120) {
            do {
                let status = try await driver.call("GET", "/status")
                if (status["value"] as? [String: Any])?["ready"] as? Bool == true { return true }
                last = "\(status)"
            } catch {
                last = "\(error)"
            }
            return child.hasExited
        }
        if ready, !child.hasExited { return driver }
        driver.stop()
        throw WebDriverError(
            description: "chromedriver did not start (\(last)): \(child.standardOutput) \(child.standardError)")
    }

    func stop() {
        child.stop()
    }

    /// One WebDriver command; a response whose `value` holds an `error` throws it.
    ///
    /// Plain HTTP/1.1 over a socket rather than URLSession: chromedriver writes headers without a space after the
    /// colon (`content-type:application/json`), which swift-corelibs-foundation refuses ("Failed writing header").
    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(base.dropFirst("http://".count))\r\nConnection: close\r\n"
        if body != nil { head += "Content-Type: application/json; charset=utf-8\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        let connection = try RawConnection(port: port)
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        connection.send(Data(head.utf8) + payload)
        let (headers, body) = Self.receiveReply(connection.fd)
        guard let headers else {
            throw WebDriverError(description: "\(method) \(path): no HTTP reply (\(body.prefix(200)))")
        }
        var content = body
        if headers.contains("transfer-encoding: chunked") || headers.contains("transfer-encoding:chunked") {
            content = Self.dechunk(content)
        }
        let status = headers.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        let json = (try? JSONSerialization.jsonObject(with: Data(content.utf8))) as? [String: Any] ?? [:]
        if let value = json["value"] as? [String: Any], let error = value["error"] as? String {
            throw WebDriverError(
                description: "\(method) \(path): \(status) \(error): \((value["message"] as? String ?? "").prefix(600))"
            )
        }
        return json
    }

    /// Reads one reply: the header block (lower-cased) and the body, up to `Content-Length` when given (chromedriver
    /// keeps the connection open whatever `Connection: close` says), else to the end of the stream or of a chunked
    /// body.
    static func receiveReply(_ fd: Int32) -> (headers: String?, body: String) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        var expected: Int?
        while true {
            if headerEnd == nil,
                let end = (0..<max(0, bytes.count - 3)).first(where: {
                    Array(bytes[$0..<$0 + 4]) == separator
                })
            {
                headerEnd = end + 4
                let headers = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
                expected = headers.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
            }
            if let headerEnd {
                if let expected, bytes.count - headerEnd >= expected { break }
                if expected == nil, bytes.suffix(5) == [48, 13, 10, 13, 10] { break }  // "0\r\n\r\n": last chunk
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        guard let headerEnd else { return (nil, String(decoding: bytes, as: UTF8.self)) }
        return (
            String(decoding: bytes[..<(headerEnd - 4)], as: UTF8.self).lowercased(),
            String(decoding: bytes[headerEnd...], as: UTF8.self)
        )
    }

    /// The body of a `Transfer-Encoding: chunked` reply (sizes in hex, each chunk followed by CRLF).
    static func dechunk(_ text: String) -> String {
        var bytes = Substring(text).utf8[...]
        var out: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: 13) {
            let size = Int(String(decoding: bytes[..<lineEnd], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
            guard size > 0 else { break }
            let start = bytes.index(lineEnd, offsetBy: 2)
            let end = bytes.index(start, offsetBy: size)
            out += bytes[start..<end]
            bytes = bytes[bytes.index(end, offsetBy: 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A headless browser session: no sandbox (tests may run as root), no GPU, muted, autoplay allowed.
    func newSession() async throws -> BrowserSession {
        let options: [String: Any] = [
            "binary": browser.chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1100,1900", "--no-first-run",
                "--disable-extensions", "--disable-background-networking",
            ],
        ]
        let reply = try await call(
            "POST", "/session",
            ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options]]])
        guard let id = (reply["value"] as? [String: Any])?["sessionId"] as? String else {
            throw WebDriverError(description: "no session id in \(reply)")
        }
        return BrowserSession(driver: self, id: id)
    }
}

/// One browser session's commands: navigate, find, click, type, run a script, wait, screenshot.
struct BrowserSession: Sendable {
    let driver: WebDriver
    let id: String
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    struct Element: Sendable {
        let id: String
        var reference: [String: String] { [BrowserSession.elementKey: id] }
    }

    func navigate(_ url: String) async throws { try await driver.call("POST", "/session/\(id)/url", ["url": url]) }

    func element(_ css: String) async throws -> Element {
        let reply = try await driver.call(
            "POST", "/session/\(id)/element", ["using": "css selector", "value": css])
        guard let element = (reply["value"] as? [String: Any])?[Self.elementKey] as? String else {
            throw WebDriverError(description: "no element \(css)")
        }
        return Element(id: element)
    }

    func click(_ element: Element) async throws {
        try await driver.call("POST", "/session/\(id)/element/\(element.id)/click", [:])
    }

    func type(_ text: String, into element: Element) async throws {
        try await driver.call("POST", "/session/\(id)/element/\(element.id)/value", ["text": text])
    }

    @discardableResult
    func script(_ source: String, _ arguments: [Any] = []) async throws -> Any? {
        try await driver.call("POST", "/session/\(id)/execute/sync", ["script": source, "args": arguments])["value"]
    }

    /// Polls `condition` (a script returning a boolean) until it holds; fails after 30 s with `orReport`'s value.
    func waitFor(_ what: String, _ condition: String, orReport: String? = nil) async throws {
        if try await Polling.until(seconds: 30, { try await script(condition) as? Bool == true }) { return }
        var report = ""
        if let orReport, let value = try await script(orReport) { report = "\(value)" }
        throw WebDriverError(description: "waited 30 s for \(what); \(report)")
    }

    func screenshot() async throws -> Data {
        let reply = try await driver.call("GET", "/session/\(id)/screenshot")
        guard let base64 = reply["value"] as? String, let data = Data(base64Encoded: base64) else {
            throw WebDriverError(description: "no screenshot")
        }
        return data
    }

    func delete() async throws { try await driver.call("DELETE", "/session/\(id)") }
}
