import Foundation
import Testing

extension BrowserTests {
    /// The map from the keyboard alone: it takes the focus and has an accessible name; Home goes to the chosen
    /// track; each arrow moves the ring to a track in that direction (or says there is none); the live region
    /// names the track; Enter picks it and the keyboard stays on the map.
    static func exerciseMapKeyboard(_ session: BrowserSession) async throws {
        let canvas = try await session.element("#map")
        let attributes =
            try await session.script(
                "const c = document.getElementById('map'); "
                    + "return [String(c.tabIndex), c.getAttribute('role'), c.getAttribute('aria-label') || '', "
                    + "document.getElementById('map-cursor').getAttribute('aria-live')]") as? [String] ?? []
        #expect(attributes.count == 4 && attributes[0] == "0" && attributes[1] == "application", "\(attributes)")
        #expect(attributes.count == 4 && attributes[2].contains("arrow keys") && attributes[3] == "polite")

        // Home: the cursor on the chosen track (picked earlier from the search results), named in the live region.
        try await session.type("\u{E011}", into: canvas)
        try await session.waitFor(
            "the cursor on the chosen track",
            "return map.cursor >= 0 && String(map.points[map.cursor][0]) === String(map.seed.id) && "
                + "document.getElementById('map-cursor').textContent.includes('of 6')",
            orReport: "return document.getElementById('map-cursor').textContent")
        #expect(try await session.script("return document.activeElement.id") as? String == "map")

        // Arrows: each moves to a point that lies that way on screen, or says there is none further.
        let position =
            "const at = mapFrame(document.getElementById('map')); "
            + "return [map.cursor].concat(at(map.points[map.cursor]))"
        var moves = 0
        for (key, axis, sign) in [
            ("\u{E014}", 1, 1.0), ("\u{E012}", 1, -1.0), ("\u{E015}", 2, 1.0), ("\u{E013}", 2, -1.0),
            ("\u{E014}", 1, 1.0), ("\u{E015}", 2, 1.0),
        ] {
            let before = try await session.script(position) as? [Double] ?? []
            try await session.script("document.getElementById('map-cursor').textContent = ''")
            try await session.type(key, into: canvas)
            try await session.waitFor(
                "the live region after a key", "return document.getElementById('map-cursor').textContent !== ''")
            let after = try await session.script(position) as? [Double] ?? []
            guard before.count == 3, after.count == 3 else { throw WebDriverError(description: "no cursor") }
            if after[0] == before[0] {
                let said = try await session.script("return document.getElementById('map-cursor').textContent")
                #expect((said as? String)?.hasPrefix("No track further") == true, "\(String(describing: said))")
            } else {
                #expect((after[axis] - before[axis]) * sign > 0, "key \(key) moved the wrong way: \(before) → \(after)")
                moves += 1
            }
        }
        #expect(moves >= 2, "the arrows moved the cursor only \(moves) times among six tracks")

        // The ring is drawn in the focus colour (#e8a100) while the map has the focus.
        let ringDrawn = try await session.script(
            """
            const c = document.getElementById('map'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < d.length; i += 4) if (d[i] === 232 && d[i+1] === 161 && d[i+2] === 0) return true;
            return false
            """)
        #expect(ringDrawn as? Bool == true, "no focus ring around the keyboard's point")

        // Page Down reaches a track the arrows did not; Enter picks the track under the cursor.
        try await session.type("\u{E00F}", into: canvas)
        let chosen = try #require(try await session.script("return String(map.points[map.cursor][0])") as? String)
        try await session.type("\u{E007}", into: canvas)
        try await session.waitFor(
            "the picked track's neighbours",
            "return map.seed && String(map.seed.id) === '\(chosen)' && "
                + "document.querySelectorAll('#neighbours li').length === 5 && "
                + "!document.querySelector('#neighbours li[data-id=\"\(chosen)\"]')",
            orReport: "return document.getElementById('similar-status').textContent")
        #expect(try await session.script("return document.activeElement.id") as? String == "map")
    }
}

extension BrowserTests {
    /// An audio file chosen in the page: its neighbours, and that it is an indexed track's copy; then "identify"
    /// on an index without segments shows the server's remedy.
    static func exerciseUpload(_ session: BrowserSession, _ server: ServerProcess) async throws {
        let music = server.fixture.music
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: music.path).sorted().first)
        try await session.type(music.appendingPathComponent(name).path, into: try await session.element("#file"))
        try await session.waitFor(
            "the upload's neighbours",
            "return document.getElementById('similar-status').textContent.includes('This file is in the library') "
                + "&& document.querySelectorAll('#neighbours li').length === 5",
            orReport: "return document.getElementById('similar-status').textContent")
        try await session.click(try await session.element("#identify"))
        try await session.waitFor(
            "the identify remedy",
            "const s = document.getElementById('similar-status'); "
                + "return s.classList.contains('error') && s.textContent.includes('retrieve index --segments')",
            orReport: "return document.getElementById('similar-status').textContent")
        try await session.click(try await session.element("#identify"))
    }
}
