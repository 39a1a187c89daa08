import WarrenCore
