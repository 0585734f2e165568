import ZooTensor
print("zoo-bench")
