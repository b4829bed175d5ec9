print("ganglion")
