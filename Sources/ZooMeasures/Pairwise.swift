/// (Being written.)
enum PairwiseMeasures {
    static let all: [any PairMeasure] = []
}
