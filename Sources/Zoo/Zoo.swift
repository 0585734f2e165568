// The umbrella module: `import Zoo` gives a program the whole public API (tensors, layers and
// models, optimizers, data, the training engine, the store, sweeps and reports). Each module can
// still be imported on its own; docs/library.md shows a complete program.
@_exported import ZooAnalysis
@_exported import ZooData
@_exported import ZooLab
@_exported import ZooMeasures
@_exported import ZooNN
@_exported import ZooOptim
@_exported import ZooPostgres
@_exported import ZooReport
@_exported import ZooStore
@_exported import ZooTensor
@_exported import ZooTrain
