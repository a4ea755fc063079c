import Foundation
import Library
import RetrieveCore
import Testing
import VectorIndex

/// `DuplicateRule`: what `similar --dedupe` counts as one recording, on hand-made evidence.
@Suite struct DuplicateRuleTests {
    /// A unit vector at angle `theta` from the first axis, in 4 dimensions: cosines are exact by construction.
    func vector(_ theta: Double, _ phi: Double = 0) -> Embedding {
        Embedding(normalising: [Float(cos(theta)), Float(sin(theta) * cos(phi)), Float(sin(theta) * sin(phi)), 0])
    }

    func recording(hash: String = "", artist: String? = nil, title: String? = nil, duration: Double = 60,
                   embedding: Embedding, segments: [Embedding] = []) -> RecordingEvidence {
        RecordingEvidence(contentHash: hash, artist: artist, title: title, duration: duration, embedding: embedding,
                          segments: segments)
    }

    @Test func styleSimilarityAloneIsNeverEnough() {
        let rule = DuplicateRule()
        // cos = 0.997: two pieces of one soundtrack, both 60 s loops.
        let a = recording(hash: "1", embedding: vector(0)), b = recording(hash: "2", embedding: vector(acos(0.997)))
        #expect(!rule.sameRecording(a, b))
        // cos = 0.9999 but 2 s apart in length: still two recordings.
        let c = recording(hash: "3", duration: 62, embedding: vector(acos(0.9999)))
        #expect(!rule.sameRecording(a, c))
        // cos = 0.9999 and the same length: one recording (a re-encode without tags) …
        let d = recording(hash: "4", duration: 60.4, embedding: vector(acos(0.9999)))
        #expect(rule.sameRecording(a, d) && rule.sameRecording(d, a))
        // … unless their segments, moment by moment, say otherwise.
        let segmentsA = [vector(0), vector(1), vector(2)], segmentsD = [vector(2), vector(1), vector(0)]
        #expect(!rule.sameRecording(recording(embedding: vector(0), segments: segmentsA),
                                    recording(duration: 60.4, embedding: vector(acos(0.9999)), segments: segmentsD)))
        #expect(rule.sameRecording(recording(embedding: vector(0), segments: segmentsA),
                                   recording(duration: 60.4, embedding: vector(acos(0.9999)), segments: segmentsA)))
    }

    @Test func theSameBytesAreOneRecordingWhateverElseDiffers() {
        let rule = DuplicateRule()
        #expect(rule.sameRecording(recording(hash: "h", embedding: vector(0)),
                                   recording(hash: "h", duration: 10, embedding: vector(2))))
        #expect(!rule.sameRecording(recording(hash: "", embedding: vector(0)), recording(hash: "", embedding: vector(2))))
    }

    @Test(arguments: [
        ("The Beatles", "Let It Be", "beatles", "let it be"),
        ("Beyoncé", "Halo", "BEYONCE", "Halo"),
        ("Simon & Garfunkel", "The Boxer", "Simon and Garfunkel", "the boxer"),
        ("AC/DC", "T.N.T.", "AC DC", "TNT"),
        ("Daft Punk feat. Pharrell Williams", "Get Lucky", "Daft Punk", "Get Lucky (feat. Pharrell Williams)"),
        ("Artist ft. Someone", "Song [ft. Someone]", "Artist", "Song"),
        ("Ｗｉｄｅ", "  Many   Spaces ", "Wide", "many spaces"),
    ])
    func theSameArtistAndTitleAsAPersonReadsThem(a: String, t: String, b: String, u: String) {
        let rule = DuplicateRule()
        #expect(rule.sameRecording(recording(hash: "1", artist: a, title: t, embedding: vector(0)),
                                   recording(hash: "2", artist: b, title: u, duration: 61, embedding: vector(1.5))))
    }

    @Test func versionsTitlesAndLengthsThatDifferAreKept() {
        let rule = DuplicateRule()
        func pair(_ t: String, _ u: String, _ d1: Double = 200, _ d2: Double = 200) -> Bool {
            rule.sameRecording(recording(hash: "1", artist: "A", title: t, duration: d1, embedding: vector(0)),
                               recording(hash: "2", artist: "A", title: u, duration: d2, embedding: vector(1.5)))
        }
        #expect(!pair("Song", "Song (Live)"))
        #expect(!pair("Song", "Song (Remix)"))
        #expect(!pair("Song", "Other Song"))
        #expect(!pair("Intro", "Intro", 60, 95))  // one artist's "Intro" on two albums
        #expect(pair("Song", "Song", 200, 207))  // a remaster with a longer fade
        #expect(!rule.sameRecording(recording(hash: "1", artist: nil, title: "Song", embedding: vector(0)),
                                    recording(hash: "2", artist: nil, title: "Song", embedding: vector(1.5))))
    }
}
