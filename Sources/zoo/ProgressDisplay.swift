import Foundation
import ZooTrain

#if canImport(Glibc)
import Glibc
#endif

/// Shows training progress: a redrawn bar on a terminal (step/s, loss, accuracy, ETA), plain
/// lines per epoch otherwise (logs, CI), or nothing.
final class ProgressDisplay {
    let style: ProgressMode
    let totalEpochs: Int
    private var epochStart = Date()
    private var lastDraw = Date.distantPast
    private var lossAverage: Float?
    private var accuracyAverage: Float?

    init(style: ProgressMode, totalEpochs: Int) {
        self.style = style.resolved(quiet: false, stream: STDERR_FILENO)
        self.totalEpochs = totalEpochs
    }

    func show(_ event: TrainingEvent) {
        switch (style, event) {
        case (.quiet, _), (.auto, _):
            return
        case let (.live, .step(epoch, _, stepsInEpoch, batchIndex, loss, accuracy, _)):
            if batchIndex == 0 { epochStart = Date(); lossAverage = nil; accuracyAverage = nil }
            lossAverage = lossAverage.map { 0.98 * $0 + 0.02 * loss } ?? loss
            accuracyAverage = accuracyAverage.map { 0.98 * $0 + 0.02 * accuracy } ?? accuracy
            let now = Date()
            guard now.timeIntervalSince(lastDraw) > 0.1 || batchIndex + 1 == stepsInEpoch else { return }
            lastDraw = now
            let done = batchIndex + 1
            let elapsed = now.timeIntervalSince(epochStart)
            let rate = Double(done) / max(elapsed, 1e-9)
            let eta = Double(stepsInEpoch - done) / max(rate, 1e-9)
            let width = 24, filled = width * done / max(stepsInEpoch, 1)
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\r epoch %d/%d %@ %d/%d  %.0f step/s  loss %.4f  acc %.1f%%  eta %@ ", epoch + 1, totalEpochs, bar, done,
                              stepsInEpoch, rate, lossAverage ?? loss, (accuracyAverage ?? accuracy) * 100, Self.duration(eta))
            FileHandle.standardError.write(line.data(using: .utf8)!)
        case (.plain, .step), (_, .snapshot):
            return
        case let (_, .epoch(m, _)):
            if style == .live { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
            var line = String(format: "epoch %d/%d", m.epoch, totalEpochs)
            if let t = m.train { line += String(format: "  train loss %.4f acc %.2f%%", t.loss, t.accuracy * 100) }
            line += String(format: "  running (training mode) loss %.4f acc %.2f%%", m.running.loss, m.running.accuracy * 100)
            if let v = m.validation { line += String(format: "  val loss %.4f acc %.2f%%", v.loss, v.accuracy * 100) }
            if let t = m.test { line += String(format: "  test loss %.4f acc %.2f%%", t.loss, t.accuracy * 100) }
            line += String(format: "  lr %.3g  %.1f s", m.learningRate, m.seconds)
            FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
        case let (_, .diverged(epoch, step, loss)):
            FileHandle.standardError.write("\ndiverged at epoch \(epoch + 1), step \(step): loss \(loss)\n".data(using: .utf8)!)
        }
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
