"""GGG's Currency Exchange history: one document per realm and UTC hour, every market of every league."""
