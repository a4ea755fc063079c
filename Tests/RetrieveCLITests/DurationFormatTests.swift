import Testing

@testable import retrieve

/// The time columns of `list`, `similar` and `stats` never print an overflowed or absurd time, and never trap,
/// whatever length reaches them (an index written before lengths were decoded holds header claims of 10¹⁴ s).
@Suite struct DurationFormatTests {
    @Test func tableTimes() {
        #expect(Output.duration(0) == "0:00")
        #expect(Output.duration(59.4) == "0:59")
        #expect(Output.duration(59.6) == "1:00")
        #expect(Output.duration(3_723) == "1:02:03")
        #expect(Output.duration(35_999_999) == "9999:59:59")
        for absurd in [36_000_000, 209_146_758_205_323.7, 9.3e18, 1e300, .greatestFiniteMagnitude, .infinity] {
            #expect(Output.duration(absurd) == ">9999:59:59", "\(absurd)")
        }
        for meaningless in [-1, -.infinity, .nan, -0.6] {
            #expect(Output.duration(meaningless) == "?", "\(meaningless)")
        }
    }

    @Test func summaryTimes() {
        #expect(Output.elapsed(12) == "12s")
        #expect(Output.elapsed(185) == "3m05s")
        #expect(Output.elapsed(3_720) == "1h02m")
        #expect(Output.elapsed(3_599_999_999) == "999999h59m")
        for absurd in [3_600_000_000, 209_146_758_205_323.7, 1e300, .infinity] {
            #expect(Output.elapsed(absurd) == ">999999h", "\(absurd)")
        }
        #expect(Output.elapsed(.nan) == "?")
    }
}
