import Foundation
import Testing
@testable import ZooAnalysis
import ZooStore

/// Known answers of the variability measures on hand-made predictions (worked out in the comments).
@Suite("Variability")
struct VariabilityTests {
    /// Three members, four examples, three classes; labels 0 1 2 0.
    ///   A predicts 0 1 2 1 (right right right wrong), confidences 60000 50000 40000 30000
    ///   B predicts 0 2 2 2 (right wrong right wrong), confidences 50000 45000 50000 35000
    ///   C predicts 0 1 0 0 (right right wrong right), confidences 40000 55000 42000 20000
    /// True-class probabilities of the wrong predictions: A ex3 10000, B ex1 20000, B ex3 5000, C ex2 30000.
    static func members() throws -> [PredictionRecord] {
        let labels: [UInt8] = [0, 1, 2, 0]
        func log(_ predicted: [UInt8], _ confidence: [UInt16], _ wrong: [Int: UInt16]) throws -> PredictionLog {
            try PredictionLog(classes: 3, predicted: predicted, labels: labels,
                              trueClassProbability: confidence.indices.map { wrong[$0] ?? confidence[$0] }, predictedClassProbability: confidence)
        }
        return [
            PredictionRecord(runID: "A", epoch: 2, log: try log([0, 1, 2, 1], [60000, 50000, 40000, 30000], [3: 10000])),
            PredictionRecord(runID: "B", epoch: 2, log: try log([0, 2, 2, 2], [50000, 45000, 50000, 35000], [1: 20000, 3: 5000])),
            PredictionRecord(runID: "C", epoch: 2, log: try log([0, 1, 0, 0], [40000, 55000, 42000, 20000], [2: 30000])),
        ]
    }

    @Test func flipsEntropyAndPairs() throws {
        let v = try Variability.analyze(Self.members())
        #expect(v.members == 3 && v.examples == 4 && v.classes == 3)
        #expect(v.memberAccuracies == [0.75, 0.5, 0.75])
        // Example 0 is right for all; 1, 2 and 3 are right for some members only.
        #expect(v.flipFraction == 0.75 && v.alwaysCorrect == 0.25 && v.alwaysWrong == 0)
        // Exactly one right: A–B on 1 example, A–C on 2, B–C on 3: (1 + 2 + 3)/12.
        #expect(v.pairwiseFlipRate == 0.5)
        // Different classes: A–B 2, A–C 2, B–C 3: 7/12.
        #expect(abs(v.pairwiseDisagreement - 7.0 / 12) < 1e-15)
        // Entropies 0, H(2/3, 1/3) twice, log₂ 3.
        let h = 0.9182958340544896
        #expect(abs(v.entropy.mean - 0.8553885422075338) < 1e-15)
        #expect(abs(v.entropy.median - h) < 1e-15 && abs(v.entropy.max - log2(3)) < 1e-15 && v.entropy.unanimous == 0.25)
        #expect(v.entropy.histogram == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1] && abs(v.entropy.binWidth - log2(3) / 10) < 1e-15)
        // numpy: (t.std(0, ddof=1) / t.mean(0)).mean() over the true-class probabilities.
        #expect(abs(v.probabilityCV - 0.3897415845929998) < 1e-12)
    }

    @Test func ensemblesVoteWithConfidenceTieBreaks() throws {
        let e = try Variability.analyze(Self.members()).ensembles
        #expect(e.map(\.size) == [1, 2, 3] && e.allSatisfy(\.exhaustive))
        // k = 1: the members; their pairwise flip rate.
        #expect(abs(e[0].accuracy - 2.0 / 3) < 1e-15 && abs(e[0].accuracySD - 0.14433756729740646) < 1e-15)
        #expect(e[0].subsets == 3 && e[0].flipRate == 0.5 && e[0].pairs == 3)
        // k = 2: AB ties go to the more confident voter: ex1 → A's 1 (right), ex3 → B's 2 (wrong): 3/4;
        // AC: ex2 → C's 0 (wrong), ex3 → A's 1 (wrong): 2/4; BC: ex1 → C's 1, ex2 → B's 2, ex3 → B's 2: 3/4.
        #expect(abs(e[1].accuracy - 2.0 / 3) < 1e-15 && e[1].subsets == 3)
        #expect(e[1].flipRate == nil && e[1].pairs == 0)  // two disjoint pairs need 4 members
        // k = 3: ex1 and ex2 by majority (right); ex3 a three-way tie to B's 2 (wrong).
        #expect(e[2].accuracy == 0.75 && e[2].accuracySD.isNaN && e[2].subsets == 1)
    }

    /// Six members: flip rates of disjoint ensembles, enumerated and sampled.
    @Test func flipRatesOfDisjointEnsembles() throws {
        var members = try Self.members()
        members += members.map { PredictionRecord(runID: $0.runID + "'", epoch: 2, log: $0.log) }
        let all = try Variability.analyze(members)
        // k = 3: C(6,3)·C(3,3)/2 = 10 pairs of disjoint triples.
        #expect(all.ensembles[2].pairs == 10 && all.ensembles[2].exhaustive)
        #expect(all.ensembles[3].flipRate == nil)
        let sampled = try Variability.analyze(members, samples: 5, seed: 3)
        #expect(sampled.ensembles[2].pairs == 5 && sampled.ensembles[2].subsets == 5 && !sampled.ensembles[2].exhaustive)
        let again = try Variability.analyze(members, samples: 5, seed: 3)  // the same draws
        #expect(again.ensembles.map(\.accuracy) == sampled.ensembles.map(\.accuracy) && again.ensembles.map(\.flipRate) == sampled.ensembles.map(\.flipRate))
        // k = 1: 15 pairs; a member and its copy never flip, and each of A–B, A–C, B–C occurs 4
        // times (with copies) flipping 1, 2, 3 of 4 examples: 4·(1 + 2 + 3)/4 / 15.
        #expect(abs(all.ensembles[0].flipRate! - 24.0 / 4 / 15) < 1e-15)
    }

    @Test func membersOfOtherTestSetsAreRefusedByName() throws {
        var members = try Self.members()
        members.append(PredictionRecord(runID: "D", epoch: 1, log: try PredictionLog(
            classes: 3, predicted: [0, 1, 2], labels: [0, 1, 2], trueClassProbability: [1, 1, 1], predictedClassProbability: [1, 1, 1])))
        #expect { try Variability.analyze(members) } throws: { "\($0)".contains("run D (epoch 1)") && "\($0)".contains("run A") }
        #expect(throws: VariabilityError.self) { try Variability.analyze([]) }
    }

    @Test func groupsBySeedOrByKeys() {
        let runs: [(id: String, config: [String: String])] = [
            ("r1", ["lr": "0.1", "seed": "0"]), ("r2", ["lr": "0.1", "seed": "1"]), ("r3", ["lr": "0.2", "seed": "0"]),
            ("r4", ["lr": "0.2", "seed": "1", "epochs": "3"]),
        ]
        let bySeed = Variability.groups(runs, by: [])
        #expect(bySeed.map(\.runs) == [["r1", "r2"], ["r3"], ["r4"]])
        #expect(bySeed.map(\.name) == [["epochs": "", "lr": "0.1"], ["epochs": "", "lr": "0.2"], ["epochs": "3", "lr": "0.2"]])
        let byLR = Variability.groups(runs, by: ["lr"])
        #expect(byLR.map(\.runs) == [["r1", "r2"], ["r3", "r4"]] && byLR.map(\.name) == [["lr": "0.1"], ["lr": "0.2"]])
    }

    @Test func combinatorics() {
        #expect(Variability.combinations([0, 1, 2, 3], 2) == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
        #expect(Variability.binomial(8, 4, cap: 1000) == 70 && Variability.binomial(1000, 500, cap: 501) == 501)
        #expect(Variability.binomial(3, 4, cap: 10) == 0)
    }
}
