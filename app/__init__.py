"""The handpose-studio Qt application (PySide6 + pyqtgraph) over handpose_core."""
