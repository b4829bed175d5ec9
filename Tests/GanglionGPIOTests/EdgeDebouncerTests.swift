import GanglionCore
import GanglionGPIO
import Testing

@Suite struct EdgeDebouncerTests {
  let t0 = Timestamp(seconds: 1_000)

  @Test func zeroPeriodReportsEveryChangeAtOnceAndDropsRepeats() {
    var debouncer = EdgeDebouncer(period: .zero, initial: false)
    #expect(debouncer.edge(to: true, at: t0)! == (true, t0))
    #expect(debouncer.edge(to: true, at: t0 + .milliseconds(1)) == nil)
    #expect(debouncer.edge(to: false, at: t0 + .milliseconds(2))! == (false, t0 + .milliseconds(2)))
    #expect(debouncer.deadline == nil)
  }

  @Test func bounceThatRevertsWithinThePeriodIsSuppressed() {
    var debouncer = EdgeDebouncer(period: .milliseconds(50), initial: false)
    #expect(debouncer.edge(to: true, at: t0) == nil)
    #expect(debouncer.edge(to: false, at: t0 + .milliseconds(10)) == nil)
    #expect(debouncer.deadline == t0 + .milliseconds(60))
    #expect(debouncer.due(now: t0 + .milliseconds(59)) == nil)
    #expect(debouncer.due(now: t0 + .milliseconds(60)) == nil)
    #expect(debouncer.deadline == nil)
    #expect(debouncer.reported == false)
  }

  @Test func changeThatHoldsIsReportedWithTheTimeOfTheFirstEdge() {
    var debouncer = EdgeDebouncer(period: .milliseconds(50), initial: false)
    _ = debouncer.edge(to: true, at: t0)
    _ = debouncer.edge(to: false, at: t0 + .milliseconds(3))
    _ = debouncer.edge(to: true, at: t0 + .milliseconds(7))
    // Not yet settled: the last edge restarted the period.
    #expect(debouncer.due(now: t0 + .milliseconds(50)) == nil)
    let reported = debouncer.due(now: t0 + .milliseconds(57))
    #expect(reported! == (true, t0))
    #expect(debouncer.reported == true)
    #expect(debouncer.deadline == nil)
  }

  @Test func lateBatchSettlesAnEarlierChangeBeforeTheNextEdge() {
    // Edges read together long after they happened must not merge into one burst.
    var debouncer = EdgeDebouncer(period: .milliseconds(50), initial: false)
    #expect(debouncer.edge(to: true, at: t0) == nil)
    let settled = debouncer.edge(to: false, at: t0 + .milliseconds(200))
    #expect(settled! == (true, t0))
    #expect(debouncer.due(now: t0 + .milliseconds(250))! == (false, t0 + .milliseconds(200)))
  }

  @Test func negativePeriodActsAsZero() {
    var debouncer = EdgeDebouncer(period: .milliseconds(-5), initial: true)
    #expect(debouncer.edge(to: false, at: t0)! == (false, t0))
  }
}
