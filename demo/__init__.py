"""The demo city: real Haikou outlines and NBS codes, synthetic grids and activity (labelled 演示 / 合成数据)."""
