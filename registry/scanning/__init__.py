"""Vulnerability scanning of pushed images: see README.md beside this file."""
